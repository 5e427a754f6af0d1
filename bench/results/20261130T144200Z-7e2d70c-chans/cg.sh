#!/bin/bash
# usage: cg.sh <nimbus binary> <port> <name>; user-space instructions per request under callgrind
# Env: APP = a copy of examples/hello-node with host.json logging at Warning; OUT = a scratch directory.
BIN=$1; PORT=$2; NAME=$3
D=$(mktemp -d "$OUT"/data.XXXX)
setsid valgrind --tool=callgrind --callgrind-out-file="$OUT"/cg-$NAME.%p $BIN start "$APP" --port $PORT --queue-port 0 --docs-port 0 --data $D --no-auth >"$OUT"/cg-$NAME.log 2>&1 &
PID=$!
for i in $(seq 300); do curl -sf http://127.0.0.1:$PORT/api/hello/bench >/dev/null && break; sleep 0.2; done
wrk -t1 -c8 -d3s http://127.0.0.1:$PORT/api/hello/bench >/dev/null
callgrind_control -z $PID >/dev/null
N=$(wrk -t2 -c16 -d8s http://127.0.0.1:$PORT/api/hello/bench | awk '/requests in/ {print $1}')
callgrind_control -d $PID >/dev/null
sleep 1
F=$(ls -t "$OUT"/cg-$NAME.$PID* | head -1)
IR=$(grep -m1 '^summary:\|^totals:' $F | awk '{print $2}')
echo "$NAME requests $N Ir $IR per request $((IR / N))"
kill -- -$PID
