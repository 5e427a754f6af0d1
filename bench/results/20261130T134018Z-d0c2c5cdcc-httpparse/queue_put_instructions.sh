#!/usr/bin/env bash
# The queue-put phase of bench/sdk_instructions.sh alone (same commands, same 100 unmeasured
# puts, then 2,000 measured): OUT LABEL BUILD. Kept with its outputs.
set -uo pipefail
OUT=$1 LABEL=$2 BUILD=$(realpath "$3")
cd "$(dirname "$(realpath "$0")")/../../.."  # the repository
mkdir -p "$OUT"
RESULT=$OUT/instructions-$LABEL.txt
touch "$RESULT"  # appends, as sdk_instructions.sh appends its put phase
DATA=$(mktemp -d /tmp/nimbus-sdk-instructions-XXXXXX)
VPID=""
trap '[ -n "$VPID" ] && kill $VPID 2>/dev/null; rm -rf "$DATA"' EXIT
source bench/lib.sh
PORT=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$OUT/instructions-$LABEL.callgrind.%p" \
  "$BUILD/nimbus-queue-server" --port "$PORT" --data "$DATA/queue" --log-level Warning \
  > "$OUT/instructions-$LABEL-queue.server.txt" 2>&1 &
VPID=$!
wait_port "$PORT" || exit 1
timeout 300 node bench/queue/sdk_puts.mjs "$PORT" 100 > /dev/null || { echo "queue warm-up failed" >&2; exit 1; }
callgrind_phase put 2000 node bench/queue/sdk_puts.mjs "$PORT" 2000
kill "$VPID"; wait "$VPID" 2>/dev/null
VPID=""
rm -f "$OUT"/instructions-$LABEL.callgrind.*[0-9]
