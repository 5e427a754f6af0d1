#!/bin/bash
# usage: stat_nginx.sh <port> <handler port> <name> [seconds]; the same counts for nginx (one
# worker, keep-alive upstream; bench/nginx_peer.py's config) in front of the same Node handler,
# driven by bench/peers/handler_direct.lua (the payload Nimbus sends). Env: APP, OUT, ROOT (repo).
PORT=$1; HP=$2; NAME=$3; S=${4:-6}
D=$(mktemp -d "$OUT"/nginx.XXXX); mkdir -p $D/body $D/proxy $D/fastcgi $D/uwsgi $D/scgi
python3 -c "import sys; sys.path.insert(0,'$ROOT/bench'); from nginx_peer import NGINX_CONF; print(NGINX_CONF.format(dir='$D', port=$PORT, upstream=$HP))" > $D/nginx.conf
cd $APP; FUNCTIONS_CUSTOMHANDLER_PORT=$HP setsid node handler.js >"$OUT"/handler-$NAME.log 2>&1 &
NODE=$!; cd - >/dev/null
setsid /usr/sbin/nginx -c $D/nginx.conf -p $D >"$OUT"/nginx-$NAME.log 2>&1 &
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/ >/dev/null && break; sleep 0.1; done
W=$(pgrep -f "nginx: worker process" -P $(cat $D/nginx.pid))
wrk -t2 -c64 -d2s -s $ROOT/bench/peers/handler_direct.lua http://127.0.0.1:$PORT/hello >/dev/null
perf stat -e task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_readv,syscalls:sys_enter_writev -p $W -o "$OUT"/stat-$NAME.txt &
SP=$!
sleep 0.2
ctx() { cat /proc/$1/task/*/status | awk '/^voluntary_ctxt/ {v+=$2} /^nonvoluntary_ctxt/ {n+=$2} END {print v, n}'; }
C0=$(ctx $W)
wrk -t2 -c64 -d${S}s --latency -s $ROOT/bench/peers/handler_direct.lua http://127.0.0.1:$PORT/hello > "$OUT"/wrk-$NAME.txt
C1=$(ctx $W)
kill -INT $SP; wait $SP
N=$(grep -oP '\d+(?= requests in)' "$OUT"/wrk-$NAME.txt)
echo "== $NAME requests $N  $(grep Requests/sec "$OUT"/wrk-$NAME.txt)  p99 $(grep ' 99%' "$OUT"/wrk-$NAME.txt | awk '{print $2}')"
echo "$C0 $C1" | awk -v n=$N '{printf "%-40s %12d  per req %.3f\n%-40s %12d  per req %.3f\n", "voluntary_ctxt_switches", $3-$1, ($3-$1)/n, "nonvoluntary_ctxt_switches", $4-$2, ($4-$2)/n}'
awk -v n=$N '/^ +[0-9,.]+ +[a-z_:-]+/ {gsub(",","",$1); printf "%-40s %12s  per req %.3f\n", $2, $1, $1/n}' "$OUT"/stat-$NAME.txt
kill $(cat $D/nginx.pid); kill $NODE
