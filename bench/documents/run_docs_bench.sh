#!/usr/bin/env bash
# The document benchmark (issue 9), Nimbus and the peer (@vercel/cosmosdb-server, in memory)
# in ONE run, loopback only, every step bounded by a count and a time limit:
#  1. load: 1,000,000 items in 1,000 partitions through api::DocumentStore (docs_bench load;
#     not over HTTP, see docs_bench.cc; a data directory already holding them is reused), and
#     10,000 for the side-by-side with the peer;
#  2. the queries at the store interface (docs_bench queries), 1,000,000 items;
#  3. start to first answer of nimbus-docs-server on the 1,000,000-item directory;
#  4. the queries through the official @azure/cosmos 4.9.3 (sdk_queries.mjs) against
#     nimbus-docs-server at 1,000,000 and at 10,000 items, and against cosmosdb-server at
#     10,000 (filled through the SDK; it is quadratic beyond), with each server's RSS after;
#  5. durable creates/s and point reads/s at the store, lean generator (document_store_bench,
#     synchronous=FULL, 64 in flight).
# Raw output: bench/results/<UTC time>-<commit>-docs/ (each step's output, steps.tsv with the
# exact command, exit code and milliseconds, machine.txt with the load before and after,
# summary.json and summary.md with every figure: bench/documents/summarize.py).
#   bash bench/documents/run_docs_bench.sh
# Env: NIMBUS_BENCH_BUILD (build/release), NIMBUS_DOCS_ITEMS (1000000), NIMBUS_DOCS_CACHE
# (where loaded directories are kept between runs: /tmp/nimbus-docbench), NIMBUS_DOCS_ITERS
# (SDK iterations per query, 100), NIMBUS_DOCS_SKIP_PEER=1, NIMBUS_DOCS_BASELINE_BIN and
# NIMBUS_DOCS_BASELINE_STORE_BENCH (nimbus-docs-server and document_store_bench of an earlier
# commit: measured in the same run, before/after).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${NIMBUS_BENCH_BUILD:-build/release}
ITEMS=${NIMBUS_DOCS_ITEMS:-1000000}
PEER_ITEMS=10000
ITERS=${NIMBUS_DOCS_ITERS:-100}
CACHE=${NIMBUS_DOCS_CACHE:-/tmp/nimbus-docbench}
COMMIT=$(git rev-parse HEAD)
OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-${COMMIT:0:10}-docs
mkdir -p "$OUT" "$CACHE"
STEPS=$OUT/steps.tsv
: > "$STEPS"
{
  echo "commit $COMMIT"
  echo "uncommitted: $(git status --porcelain -- src bench | tr '\n' ' ')"
  echo "nproc $(nproc); $(uname -sr)"
  echo "before: $(uptime)"
} > "$OUT/machine.txt"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

step() {  # step NAME SECONDS COMMAND...: bounded by timeout, output teed to $OUT/NAME.txt
  local name=$1 secs=$2; shift 2
  echo "## $name (load: $(cut -d' ' -f1-3 /proc/loadavg)): $*"
  local t0=$(date +%s%N)
  timeout "$secs" "$@" 2>&1 | tee "$OUT/$name.txt"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >> "$STEPS"
  [ "$rc" = 0 ] || echo "## $name exited $rc (recorded)"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # wait_http PORT: until anything answers HTTP, 15 s at most
  for _ in $(seq 150); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  return 1
}
rss() {  # rss PID NAME: the process's resident memory now and at its peak, as a result line
  echo "result: {\"step\":\"rss\",\"target\":\"$2\",\"rss_kb\":$(awk '/VmRSS/{print $2}' /proc/$1/status),\"hwm_kb\":$(awk '/VmHWM/{print $2}' /proc/$1/status)}" | tee -a "$OUT/rss.txt"
}

step install-peers 600 bash bench/install-peers.sh
step npm-deps 600 bash scripts/npm-deps.sh
step load-1m 1800 "$BUILD/bench/docs_bench" load --dir "$CACHE/items-$ITEMS" --items "$ITEMS" --partitions 1000 --in-flight 256 --sync normal
step load-10k 300 "$BUILD/bench/docs_bench" load --dir "$CACHE/items-$PEER_ITEMS" --items "$PEER_ITEMS" --partitions 1000 --in-flight 256 --sync normal
step store-queries-1m 300 "$BUILD/bench/docs_bench" queries --dir "$CACHE/items-$ITEMS" --items "$ITEMS" --partitions 1000 --iters 200
step start-time-1m 180 python3 bench/documents/start_time.py "$BUILD/nimbus-docs-server" "$CACHE/items-$ITEMS" 5

# nimbus-docs-server (synchronous=FULL, the emulator's published key on loopback) at 1M and 10k;
# with NIMBUS_DOCS_BASELINE_BIN (a nimbus-docs-server built from an earlier commit) that build
# too, at 1M, on the same data, fewer iterations (its scans take seconds per query).
targets=("nimbus:$BUILD/nimbus-docs-server:$ITEMS:$ITERS" "nimbus:$BUILD/nimbus-docs-server:$PEER_ITEMS:$ITERS")
[ -n "${NIMBUS_DOCS_BASELINE_BIN:-}" ] && targets+=("nimbus-baseline:$NIMBUS_DOCS_BASELINE_BIN:$ITEMS:10")
for t in "${targets[@]}"; do
  IFS=: read -r label bin n iters <<< "$t"
  port=$(free_port)
  "$bin" --port "$port" --data "$CACHE/items-$n" --log-level Warning > "$OUT/$label-$n.server.txt" 2>&1 &
  pid=$!; PIDS+=("$pid")
  if wait_http "$port"; then
    step "sdk-$label-$n" 900 node bench/documents/sdk_queries.mjs --endpoint "http://127.0.0.1:$port/" --label "$label" --items "$n" --partitions 1000 --iters "$iters" --phase-seconds 60 --reads 4000
    rss "$pid" "$label-$n"
  else
    echo "result: {\"step\":\"sdk_fatal\",\"target\":\"$label\",\"items\":$n,\"error\":\"$bin did not answer in 15 s\"}" | tee "$OUT/sdk-$label-$n.txt"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null
done

# The peer, in memory, filled through the SDK.
if [ "${NIMBUS_DOCS_SKIP_PEER:-}" != 1 ]; then
  port=$(free_port)
  node bench/peers/node_modules/@vercel/cosmosdb-server/lib/cli.js -p "$port" --no-ssl > "$OUT/peer.server.txt" 2>&1 &
  pid=$!; PIDS+=("$pid")
  if wait_http "$port"; then
    step sdk-peer-10k 900 node bench/documents/sdk_queries.mjs --endpoint "http://127.0.0.1:$port/" --label "cosmosdb-server" --items "$PEER_ITEMS" --partitions 1000 --iters "$ITERS" --phase-seconds 60 --reads 4000 --load "$PEER_ITEMS"
    rss "$pid" "cosmosdb-server-$PEER_ITEMS"
  else
    echo "result: {\"step\":\"sdk_fatal\",\"target\":\"cosmosdb-server\",\"error\":\"cosmosdb-server did not answer in 15 s: $(tail -c 200 "$OUT/peer.server.txt" | tr '\n"' '  ')\"}" | tee "$OUT/sdk-peer-10k.txt"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null
fi

# Durable creates and point reads at the store (synchronous=FULL, 64 in flight).
# 64 in flight as measured before; 256 shows how far group commit goes when more are waiting.
for f in 64 256; do
  d=$(mktemp -d /tmp/nimbus-docbench-crud-XXXXXX)
  step "store-creates-reads-$f" 300 "$BUILD/document_store_bench" "$d" 20000 "$f"
  rm -rf "$d"
  if [ -n "${NIMBUS_DOCS_BASELINE_STORE_BENCH:-}" ]; then
    d=$(mktemp -d /tmp/nimbus-docbench-crud-XXXXXX)
    step "store-creates-reads-$f-baseline" 300 "$NIMBUS_DOCS_BASELINE_STORE_BENCH" "$d" 20000 "$f"
    rm -rf "$d"
  fi
done

echo "after: $(uptime)" >> "$OUT/machine.txt"
python3 bench/documents/summarize.py "$OUT"
echo "raw results: $OUT"
