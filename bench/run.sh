#!/usr/bin/env bash
# Runs every benchmark side by side in one run (see bench/README.md) and keeps its raw results:
# bench/results/<UTC time>-<commit>/ gets run.json (commit, whether the tree had uncommitted
# changes, machine, every command with its exit code and time, the parsed figures) and each
# step's raw output. Peers (Node http, workerd, nginx, Azurite) run in the same run; a peer that
# cannot run is recorded with its error. Loopback only; every load is bounded by a duration or
# a count, every phase by a time limit.
#   bash bench/run.sh [seconds-per-wrk-run]
# Env: NIMBUS_BENCH_BUILD (default build/release), NIMBUS_BENCH_ONLY=http-custom-handler (only
# the Nimbus / nginx / direct custom-handler trio), NIMBUS_BENCH_ROUNDS (rounds of that trio).
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
BUILD=${NIMBUS_BENCH_BUILD:-build/release}
export NIMBUS_BENCH_BUILD=$BUILD
# NIMBUS_BENCH_COMMIT: the commit the binaries were built from, when the tree is not a git work
# tree (e.g. an export of one commit built apart from a work tree with others' uncommitted work).
COMMIT=${NIMBUS_BENCH_COMMIT:-$(git rev-parse HEAD)}
OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-${COMMIT:0:10}
mkdir -p "$OUT"
export NIMBUS_BENCH_OUT=$PWD/$OUT
STEPS=$OUT/steps.tsv
: > "$STEPS"
# step NAME COMMAND...: runs it, tees its output to $OUT/NAME.txt, records command, exit code, milliseconds.
step() {
  local name=$1; shift
  echo "## $name: $*"
  local t0=$(date +%s%N)
  "$@" 2>&1 | tee "$OUT/$name.txt"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$*" >> "$STEPS"
  [ "$rc" = 0 ] || echo "## $name exited $rc (recorded in run.json)"
}
step install-peers bash bench/install-peers.sh
if [ "${NIMBUS_BENCH_ONLY:-}" = http-custom-handler ]; then
  step http python3 bench/http_bench.py "$SECS" --only custom-handler --rounds "${NIMBUS_BENCH_ROUNDS:-1}"
else
  step http python3 bench/http_bench.py "$SECS" --rounds "${NIMBUS_BENCH_ROUNDS:-1}"
  step queue-service bash bench/queue/run.sh "$BUILD"
  step queue-trigger python3 bench/queue_trigger_bench.py 20000
  # The official SDK against Nimbus and Azurite (in memory, on disk): the same script, each
  # phase bounded (Azurite's slow phases stop at their bound and report what they did).
  step sdk-compare env NIMBUS_QUEUE_SERVER_BIN="$PWD/$BUILD/nimbus-queue-server" \
    node bench/queue/sdk_compare.mjs --puts 10000 --drain 20000 --phase-seconds 60 \
    --azurite-phase-seconds 20 --json-out "$NIMBUS_BENCH_OUT/sdk_compare.json"
fi
python3 bench/collect_results.py "$OUT" "$COMMIT"
echo "raw results: $OUT"
