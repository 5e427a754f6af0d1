#!/usr/bin/env bash
# User-space instructions per SDK item operation of nimbus-docs-server, all five operations of
# crud_cpu.mjs (create, point read, upsert, replace with If-Match, delete), counted by
# callgrind: the evidence a shared machine's load does not move (bench/sdk_instructions.sh
# explains the caveats: every thread, no kernel, valgrind's ~50x slowdown shrinks group commits).
#   bash bench/documents/docs_instructions.sh OUT_DIR LABEL BUILD_DIR [N]
# N items (default 1000; reads are 5N). Writes OUT_DIR/instructions-LABEL.txt, one line a phase.
set -uo pipefail
OUT=$1 LABEL=$2 BUILD=$(realpath "$3") N=${4:-1000}
cd "$(dirname "$(realpath "$0")")/../.."
mkdir -p "$OUT"
RESULT=$OUT/instructions-$LABEL.txt
: > "$RESULT"
DATA=$(mktemp -d /tmp/nimbus-docs-instructions-XXXXXX)
VPID=""
trap '[ -n "$VPID" ] && kill $VPID 2>/dev/null; rm -rf "$DATA"' EXIT
source bench/lib.sh  # free_port, wait_port, callgrind_phase
PORT=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$OUT/instructions-$LABEL.callgrind.%p" \
  "$BUILD/nimbus-docs-server" --port "$PORT" --data "$DATA/docs" --sync full --log-level Warning \
  > "$OUT/instructions-$LABEL-docs.server.txt" 2>&1 &
VPID=$!
wait_port "$PORT" || exit 1
callgrind_phase create "$N" node bench/documents/sdk_ops.mjs "$PORT" create "$N"
callgrind_phase read $((5 * N)) node bench/documents/sdk_ops.mjs "$PORT" read "$N"
callgrind_phase upsert "$N" node bench/documents/sdk_ops.mjs "$PORT" upsert "$N"
callgrind_phase replace "$N" node bench/documents/sdk_ops.mjs "$PORT" replace "$N"
callgrind_phase delete "$N" node bench/documents/sdk_ops.mjs "$PORT" delete "$N"
kill "$VPID"; wait "$VPID" 2>/dev/null
VPID=""
rm -f "$OUT"/instructions-$LABEL.callgrind.*[0-9]
