#!/usr/bin/env bash
# Durable orchestrations on an otherwise idle host: the gap between one activity's end and the
# next one's start and start -> completion of five-step sequences (bench/durable/gap.mjs), under
# synchronous=full (fsync per group commit, the default) and normal (survives kill -9, not power
# loss); then host RSS with COMPLETED finished and RUNNING waiting instances
# (bench/durable/rss.mjs). Loopback only; every loop bounded in count and time.
#   bench/durable/run_gap_rss.sh [GAP_INSTANCES=200] [COMPLETED=100000] [RUNNING=10000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${NIMBUS_BIN:-$ROOT/build/release/nimbus}
N=${1:-200}; COMPLETED=${2:-100000}; RUNNING=${3:-10000}
STAMP=$(date -u +%Y%m%dT%H%M%SZ); COMMIT=$(git -C "$ROOT" rev-parse --short=10 HEAD)
OUT=$ROOT/bench/results/$STAMP-$COMMIT-durable-gap-rss; mkdir -p "$OUT"
WORK=$(mktemp -d); trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
{ echo "commit $COMMIT"; uptime; nproc; } > "$OUT/machine.txt"

start_host() {  # APP_DIR PORT
  "$BIN" start "$1" --port "$2" --queue-port 0 --docs-port 0 --data "$WORK/data-$2" > "$WORK/host-$2.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do grep -q "Nimbus listening" "$WORK/host-$2.log" 2>/dev/null && break; sleep 0.05; done
  KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['masterKey'])" "$WORK/data-$2/keys.json")
}

for sync in full normal; do
  APP=$WORK/gap-$sync; cp -r "$ROOT/bench/apps/durable-gap" "$APP"
  python3 - "$APP/host.json" "$sync" <<'PY'
import json, sys
h = json.load(open(sys.argv[1])); h["nimbus"]["storage"] = {"synchronous": sys.argv[2]}
json.dump(h, open(sys.argv[1], "w"))
PY
  PORT=$((7400 + RANDOM % 500)); start_host "$APP" $PORT
  echo "synchronous=$sync" | tee -a "$OUT/gap.txt"
  node "$ROOT/bench/durable/gap.mjs" $PORT "$KEY" "$N" | tee -a "$OUT/gap.txt"
  kill $PID; wait $PID 2>/dev/null || true
done

APP=$WORK/rss; cp -r "$ROOT/tests/apps/durable-native" "$APP"
PORT=$((7900 + RANDOM % 50)); start_host "$APP" $PORT
node "$ROOT/bench/durable/rss.mjs" $PORT "$KEY" $PID "$COMPLETED" "$RUNNING" | tee "$OUT/rss.txt"
uptime >> "$OUT/machine.txt"
echo "raw output in $OUT"
