#!/bin/bash
# usage: stat.sh <nimbus binary> <port> [seconds]; perf stat of the host over a wrk run
# Env: APP = a copy of examples/hello-node with host.json logging at Warning; OUT = a scratch directory.
BIN=$1; PORT=$2; S=${3:-6}
PID=$("$(dirname "$0")"/run.sh $BIN $PORT)
wrk -t2 -c64 -d2s http://127.0.0.1:$PORT/api/hello/bench >/dev/null
perf stat -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_read,syscalls:sys_enter_write -p $PID -o "$OUT"/stat-$PORT.txt &
SP=$!
sleep 0.2
wrk -t2 -c64 -d${S}s --latency http://127.0.0.1:$PORT/api/hello/bench > "$OUT"/wrk-$PORT.txt
kill -INT $SP; wait $SP
N=$(grep -oP '\d+(?= requests in)' "$OUT"/wrk-$PORT.txt)
echo "requests $N  $(grep Requests/sec "$OUT"/wrk-$PORT.txt)  p99 $(grep ' 99%' "$OUT"/wrk-$PORT.txt)"
awk -v n=$N '/^ +[0-9,.]+ +[a-z_:-]+/ {gsub(",","",$1); printf "%-40s %12s  per req %.3f\n", $2, $1, $1/n}' "$OUT"/stat-$PORT.txt
kill -- -$PID
