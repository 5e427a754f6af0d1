#!/usr/bin/env bash
# The reference app's quality goals under faults (bench/moderation/quality.mjs): cold start, then
# RATE posts/s for SECONDS s with the Gemini double failing 30 % and hanging 5 % of calls and a
# worker SIGKILLed every 10 s; raw output and summary in bench/results/<stamp>-<commit>-moderation.
#   bench/moderation/run_quality.sh [RATE=20] [SECONDS=60] [MODERATION_JSON={}] [NAME=moderation]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${1:-20}; SECONDS_=${2:-60}; MODERATION=${3:-"{}"}; NAME=${4:-moderation}
STAMP=$(date -u +%Y%m%dT%H%M%SZ); COMMIT=$(git -C "$ROOT" rev-parse --short=10 HEAD)
OUT=$ROOT/bench/results/$STAMP-$COMMIT-$NAME; mkdir -p "$OUT"
{ echo "commit $COMMIT"; uptime; nproc; } > "$OUT/machine.txt"
node "$ROOT/bench/moderation/quality.mjs" --out "$OUT" --rate "$RATE" --seconds "$SECONDS_" \
  --fail 30 --hang 5 --kill-every 10 --steady "$(python3 -c "print($RATE/10)")" --moderation "$MODERATION"
gzip -f "$OUT"/*.log
uptime >> "$OUT/machine.txt"
echo "raw output in $OUT"
