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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 600); do  # 60 s at most to listen under valgrind
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1  # poll interval
  done
  echo "nothing listens on $1 after 60 s" >&2
  return 1
}
phase() {
  local name=$1 ops=$2
  shift 2
  callgrind_control -z "$VPID" > /dev/null 2>&1
  timeout 900 "$@" > "$OUT/instructions-$LABEL-$name.drive.txt" || { echo "phase $name failed" >&2; exit 1; }
  callgrind_control -d "$VPID" > /dev/null 2>&1
  local dump total
  dump=$(ls -t "$OUT"/instructions-$LABEL.callgrind.*.[0-9]* 2>/dev/null | grep -v '\.gz$' | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$LABEL $name operations=$ops instructions=$total per_operation=$((total / ops))" | tee -a "$RESULT"
  mv "$dump" "$OUT/instructions-$LABEL-$name.callgrind"
  gzip -f "$OUT/instructions-$LABEL-$name.callgrind"
}
PORT=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$OUT/instructions-$LABEL.callgrind.%p" \
  "$BUILD/nimbus-docs-server" --port "$PORT" --data "$DATA/docs" --sync full --log-level Warning \
  > "$OUT/instructions-$LABEL-docs.server.txt" 2>&1 &
VPID=$!
wait_port "$PORT" || exit 1
phase create "$N" node bench/documents/sdk_ops.mjs "$PORT" create "$N"
phase read $((5 * N)) node bench/documents/sdk_ops.mjs "$PORT" read "$N"
phase upsert "$N" node bench/documents/sdk_ops.mjs "$PORT" upsert "$N"
phase replace "$N" node bench/documents/sdk_ops.mjs "$PORT" replace "$N"
phase delete "$N" node bench/documents/sdk_ops.mjs "$PORT" delete "$N"
kill "$VPID"; wait "$VPID" 2>/dev/null
VPID=""
rm -f "$OUT"/instructions-$LABEL.callgrind.*[0-9]
