#!/bin/bash
# usage: stat.sh <nimbus binary> <port> <name> [seconds]; per-request kernel-side counts of the host
# (all its threads) over one wrk -t2 -c64 run: system calls by kind, context switches, CPU
# migrations, futex calls. Env: APP = a copy of examples/hello-node with host.json logging at
# Warning; OUT = a scratch directory.
BIN=$1; PORT=$2; NAME=$3; S=${4:-6}
D=$(mktemp -d "$OUT"/data.XXXX)
setsid $BIN start "$APP" --port $PORT --queue-port 0 --docs-port 0 --data $D --no-auth >"$OUT"/nimbus-$NAME.log 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/api/hello/bench >/dev/null && break; sleep 0.1; done
wrk -t2 -c64 -d2s http://127.0.0.1:$PORT/api/hello/bench >/dev/null
perf stat -e task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_read,syscalls:sys_enter_write -p $PID -o "$OUT"/stat-$NAME.txt &
SP=$!
sleep 0.2
ctx() { cat /proc/$1/task/*/status | awk '/^voluntary_ctxt/ {v+=$2} /^nonvoluntary_ctxt/ {n+=$2} END {print v, n}'; }
C0=$(ctx $PID)
wrk -t2 -c64 -d${S}s --latency http://127.0.0.1:$PORT/api/hello/bench > "$OUT"/wrk-$NAME.txt
C1=$(ctx $PID)
kill -INT $SP; wait $SP
N=$(grep -oP '\d+(?= requests in)' "$OUT"/wrk-$NAME.txt)
echo "== $NAME threads $(ls /proc/$PID/task | wc -l) requests $N  $(grep Requests/sec "$OUT"/wrk-$NAME.txt)  p99 $(grep ' 99%' "$OUT"/wrk-$NAME.txt | awk '{print $2}')"
echo "$C0 $C1" | awk -v n=$N '{printf "%-40s %12d  per req %.3f\n%-40s %12d  per req %.3f\n", "voluntary_ctxt_switches", $3-$1, ($3-$1)/n, "nonvoluntary_ctxt_switches", $4-$2, ($4-$2)/n}'
awk -v n=$N '/^ +[0-9,.]+ +[a-z_:-]+/ {gsub(",","",$1); printf "%-40s %12s  per req %.3f\n", $2, $1, $1/n}' "$OUT"/stat-$NAME.txt
kill -- -$PID
