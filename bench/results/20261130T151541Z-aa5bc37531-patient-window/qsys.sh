#!/usr/bin/env bash
# syscalls per SDK put at full speed
set -uo pipefail
LABEL=$1 BUILD=$(realpath "$2") N=${3:-5000}
cd /work/main
DATA=$(mktemp -d /tmp/nimbus-q-sys-XXXXXX)
SPID=""
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$DATA"' EXIT
source bench/lib.sh
PORT=$(free_port)
"$BUILD/nimbus-queue-server" --port "$PORT" --data "$DATA/queue" --log-level Warning ${EXTRA:-} > /dev/null 2>&1 &
SPID=$!
wait_port "$PORT" || exit 1
node bench/queue/sdk_puts.mjs "$PORT" 200 > /dev/null
EVENTS=syscalls:sys_enter_fdatasync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_recvmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait,context-switches,task-clock
c0=$(awk '{print $14" "$15}' /proc/$SPID/stat)
perf stat -x, -e "$EVENTS" -p "$SPID" -o /tmp/prof/qsys-$LABEL.perf -- node bench/queue/sdk_puts.mjs "$PORT" "$N"
c1=$(awk '{print $14" "$15}' /proc/$SPID/stat)
echo "ticks before $c0 after $c1 (utime stime)"
awk -F, -v ops=$N '/^[0-9]/ { split($3, e, ":"); k = e[length(e)]; sub("sys_enter_", "", k); printf "%s=%.2f ", k, $1/ops } END {print ""}' /tmp/prof/qsys-$LABEL.perf
