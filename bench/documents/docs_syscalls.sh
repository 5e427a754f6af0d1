#!/usr/bin/env bash
# System calls, context switches and server CPU per SDK item operation of nimbus-docs-server at
# full speed (no valgrind): the same five phases as docs_instructions.sh (create, point read x5,
# upsert, replace with If-Match, delete; official @azure/cosmos, 32 in flight), each counted
# by `perf stat -p` on kernel tracepoints while the phase runs. Counts are the evidence; the
# CPU column moves with the machine's load.
#   bash bench/documents/docs_syscalls.sh OUT_DIR LABEL BUILD_DIR [N]
set -uo pipefail
OUT=$1 LABEL=$2 BUILD=$(realpath "$3") N=${4:-3000}
cd "$(dirname "$(realpath "$0")")/../.."
mkdir -p "$OUT"
RESULT=$OUT/syscalls-$LABEL.txt
: > "$RESULT"
DATA=$(mktemp -d /tmp/nimbus-docs-syscalls-XXXXXX)
SPID=""
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$DATA"' EXIT
source bench/lib.sh  # free_port
PORT=$(free_port)
"$BUILD/nimbus-docs-server" --port "$PORT" --data "$DATA/docs" --sync full --log-level Warning \
  > "$OUT/syscalls-$LABEL-server.txt" 2>&1 &
SPID=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
EVENTS=syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64,syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_recvmsg,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait,context-switches
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }  # utime + stime, 10 ms ticks
phase() {
  local name=$1 ops=$2
  shift 2
  local c0 c1
  c0=$(cpu)
  perf stat -x, -e "$EVENTS" -p "$SPID" -o "$OUT/syscalls-$LABEL-$name.perf" -- "$@" > /dev/null || { echo "phase $name failed" >&2; exit 1; }
  c1=$(cpu)
  awk -F, -v l="$LABEL" -v n="$name" -v ops="$ops" -v cpu=$((c1 - c0)) '
    /^[0-9]/ { split($3, e, ":"); k = e[length(e)]; sub("sys_enter_", "", k); s = s sprintf(" %s=%.2f", k, $1 / ops) }
    END { printf "%s %s ops=%d cpu_us_per_op=%.1f%s\n", l, n, ops, cpu * 10000 / ops, s }' \
    "$OUT/syscalls-$LABEL-$name.perf" | tee -a "$RESULT"
}
phase create "$N" node bench/documents/sdk_ops.mjs "$PORT" create "$N"
phase read $((5 * N)) node bench/documents/sdk_ops.mjs "$PORT" read "$N"
phase upsert "$N" node bench/documents/sdk_ops.mjs "$PORT" upsert "$N"
phase replace "$N" node bench/documents/sdk_ops.mjs "$PORT" replace "$N"
phase delete "$N" node bench/documents/sdk_ops.mjs "$PORT" delete "$N"
kill "$SPID"; wait "$SPID" 2>/dev/null
SPID=""
