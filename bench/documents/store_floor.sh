#!/usr/bin/env bash
# What a durable write costs the SQLite document store alone, beside what the SDK benchmark
# measures, in one run: is issue 9's write target (<= 1/4 of cosmosdb-server's server CPU per
# upsert, replace, delete) within reach of a server built on this store?
#   1. crud_cpu.mjs with the peer, the nginx floor and the durable floor (HTTP, every write
#      fdatasynced), ROUNDS rounds of OPS operations;
#   2. document_store_bench over the same items (crud_cpu.mjs's shape), no HTTP at all, with
#      16 writes in flight (about what crud_cpu's commit window groups per fdatasync), ROUNDS
#      rounds each of the default indexing policy and indexingMode none, alternating which
#      goes first.
# A store's CPU per write plus the nginx floor (the transport, a fixed answer) is the least a
# server on this store can spend per SDK write; the target is peer / 4.
# Uses the binaries in build/release as they are: build them first (make build).
#   bash bench/documents/store_floor.sh OUT_DIR [OPS] [ROUNDS] [ITEMS (default: OPS, crud_cpu's count)]
set -uo pipefail
OUT=$(realpath -m "$1") OPS=${2:-3000} ROUNDS=${3:-3} ITEMS=${4:-${2:-3000}}
cd "$(dirname "$(realpath "$0")")/../.."
mkdir -p "$OUT"
{
  echo "# commit $(git rev-parse HEAD), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  git status --short | sed 's/^/# uncommitted: /'
  echo "## crud_cpu.mjs --ops $OPS --rounds $ROUNDS --floor --durable-floor"
  node bench/documents/crud_cpu.mjs --ops "$OPS" --rounds "$ROUNDS" --floor --durable-floor --out "$OUT" 2>&1 ||
    echo "crud_cpu.mjs exited with $?"
  echo "## document_store_bench DIR $ITEMS 16 {indexed,none}"
  for r in $(seq 1 "$ROUNDS"); do
    modes="indexed none"
    [ $((r % 2)) -eq 0 ] && modes="none indexed"
    for mode in $modes; do
      dir=$(mktemp -d /tmp/nimbus-store-floor-XXXXXX)
      echo "### round $r, $mode"
      timeout 300 build/release/document_store_bench "$dir" "$ITEMS" 16 "$mode" 2>&1 ||
        echo "document_store_bench exited with $?"
      rm -rf "$dir"
    done
  done
} | tee "$OUT/stdout.txt"
python3 bench/documents/store_floor_summary.py "$OUT" | tee "$OUT/medians.txt"
