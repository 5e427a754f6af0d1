#!/usr/bin/env bash
# The host's instructions per durable orchestration, counted by callgrind: a measure of CPU per
# step that the load of a shared machine does not move (wall-clock rates and CPU seconds do, by
# tens of percent between runs a minute apart). The host runs under valgrind --tool=callgrind on
# a fresh data directory; drive.mjs starts WARM instances, the counters are zeroed, COUNT more
# are run, the counters are dumped: instructions / COUNT, every thread of the host (I/O thread,
# storage writer, sync thread), not its workers. Valgrind runs one thread at a time and slows
# the host ~50x, so group commits hold fewer operations than at full speed: compare builds with
# it, do not read it as a rate.
#   bash bench/durable/host_instructions.sh OUT_DIR LABEL BUILD_DIR NAME INPUT [COUNT] [WARM]
#   e.g. bash bench/durable/host_instructions.sh bench/results/<run> after build/release FanOut '{"n":10}' 300
# Writes OUT_DIR/instructions-LABEL-NAME.txt (the result line) and the callgrind dump beside it
# (gzipped); prints `result: {json}`.
set -uo pipefail
OUT=$1 LABEL=$2 BUILD=$3 NAME=$4 INPUT=$5 COUNT=${6:-300} WARM=${7:-50}
cd "$(dirname "$(realpath "$0")")/../.."
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/nimbus-host-instructions-XXXXXX)
LOG=$OUT/instructions-$LABEL-$NAME.server.txt
DUMP=$OUT/instructions-$LABEL-$NAME.callgrind
valgrind --tool=callgrind --callgrind-out-file="$DUMP.%p" "$BUILD/nimbus" start examples/durable-fanout \
  --port 0 --queue-port 0 --docs-port 0 --data "$DATA" > "$LOG" 2>&1 &
VPID=$!
trap 'kill $VPID 2>/dev/null; wait $VPID 2>/dev/null; rm -rf "$DATA"' EXIT
PORT=""
for _ in $(seq 1 600); do  # 60 s at most for the host to listen under valgrind
  PORT=$(grep -oP 'Nimbus listening on http://127\.0\.0\.1:\K\d+' "$LOG" 2>/dev/null | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1  # poll interval
done
[ -n "$PORT" ] || { echo "the host did not listen in 60 s: $LOG" >&2; exit 1; }
export NIMBUS_DURABLE_KEY
NIMBUS_DURABLE_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["masterKey"])' "$DATA/keys.json")
DRIVE=(timeout 600 node bench/durable/drive.mjs nimbus --base "http://127.0.0.1:$PORT" --concurrency 50
  --name "$NAME" --input "$INPUT" --timeout 300)
"${DRIVE[@]}" --count "$WARM" --prefix w- --label warm > /dev/null || { echo "warm-up failed" >&2; exit 1; }
callgrind_control -z "$VPID" > /dev/null 2>&1
"${DRIVE[@]}" --count "$COUNT" --prefix p- --label run > "$OUT/instructions-$LABEL-$NAME.drive.txt" ||
  { echo "the drive failed: $OUT/instructions-$LABEL-$NAME.drive.txt" >&2; exit 1; }
callgrind_control -d "$VPID" > /dev/null 2>&1
kill "$VPID"; wait "$VPID" 2>/dev/null
# The dump made by -d (the final one at exit holds only what ran after it).
FILE=$DUMP.$VPID.1
[ -f "$FILE" ] || { echo "no callgrind dump $FILE" >&2; exit 1; }
RESULT=$(python3 - "$FILE" "$COUNT" "$LABEL" "$NAME" "$INPUT" "$BUILD" <<'PY'
import json, sys
path, count, label, name, inp, build = sys.argv[1:]
total = next(int(l.split()[1]) for l in open(path) if l.startswith(("summary:", "totals:")))
print(json.dumps({"step": "host_instructions", "label": label, "build": build, "orchestrator": name,
                  "input": json.loads(inp), "instances": int(count), "instructions": total,
                  "per_instance": round(total / int(count))}))
PY
)
echo "result: $RESULT" | tee "$OUT/instructions-$LABEL-$NAME.txt"
rm -f "$DUMP.$VPID"  # the dump at exit: what ran after the measured drive
gzip -9 -f "$FILE" "$LOG"
