#!/usr/bin/env bash
# Lean queue benchmark: nimbus-queue-server (SQLite, synchronous=FULL, group commit) driven by
# nimbus-queue-loadgen (raw keep-alive HTTP, SharedKey-signed). Loopback only; every run is
# bounded by a message count and --max-seconds.
#   bench/queue/run.sh [build/release]
set -euo pipefail
BUILD=${1:-build/release}
SERVER=$BUILD/nimbus-queue-server
LOADGEN=$BUILD/nimbus-queue-loadgen
DATA=$(mktemp -d /tmp/nimbus-queue-bench-XXXXXX)
echo "\$ $SERVER --port 0 --data $DATA --log-level Warning"
"$SERVER" --port 0 --data "$DATA" --log-level Warning > "$DATA/server.out" &
SP=$!
trap 'kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do grep -q listening "$DATA/server.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o '[0-9]*$' "$DATA/server.out")
cpu() { awk '{print $14+$15}' /proc/$SP/stat; }   # server utime+stime in 1/100 s
run() { echo "\$ $*"; "$@" || echo "exit code $? from: $*"; }  # every command and failure in the output
echo "# warm-up"; run "$LOADGEN" put --port "$PORT" --queue warm --connections 64 --count 20000 --max-seconds 60
run "$LOADGEN" drain --port "$PORT" --queue warm --connections 8 --max-seconds 60
for c in 32 64 128; do
  c0=$(cpu)
  echo "# puts, $c connections"; run "$LOADGEN" put --port "$PORT" --queue "puts$c" --connections "$c" --count 40000 --max-seconds 60
  echo "server CPU s per 10k puts: $(awk -v a=$c0 -v b=$(cpu) 'BEGIN{printf "%.3f", (b-a)/100/4}')"
done
for depth in 20000 200000; do
  echo "# fill $depth"; run "$LOADGEN" put --port "$PORT" --queue "deep$depth" --connections 128 --count "$depth" --max-seconds 120
  c0=$(cpu)
  echo "# drain $depth (get 32 + delete, 8 loops)"; run "$LOADGEN" drain --port "$PORT" --queue "deep$depth" --connections 8 --max-seconds 120
  echo "server CPU s for the drain: $(awk -v a=$c0 -v b=$(cpu) 'BEGIN{printf "%.2f", (b-a)/100}')"
done
