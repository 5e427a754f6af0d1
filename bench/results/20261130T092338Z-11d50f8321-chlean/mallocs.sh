#!/bin/bash
# usage: mallocs.sh <nimbus binary> <port> <name> [seconds]; malloc calls of the host per request
# and their sizes (libc uprobe probe_libc:malloc with bytes=%di) over a wrk -t2 -c64 run.
# Env: APP, OUT as stat.sh.
BIN=$1; PORT=$2; NAME=$3; S=${4:-3}
D=$(mktemp -d "$OUT"/data.XXXX)
setsid $BIN start "$APP" --port $PORT --queue-port 0 --docs-port 0 --data $D --no-auth >"$OUT"/nimbus-$NAME.log 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/api/hello/bench >/dev/null && break; sleep 0.1; done
wrk -t2 -c64 -d2s http://127.0.0.1:$PORT/api/hello/bench >/dev/null
perf record -q -m 1024 -e probe_libc:malloc -p $PID -o "$OUT"/malloc-$NAME.data &
SP=$!
perf stat -e probe_libc:malloc -p $PID -o "$OUT"/malloc-count-$NAME.txt &
SP2=$!
sleep 0.3
wrk -t2 -c64 -d${S}s http://127.0.0.1:$PORT/api/hello/bench > "$OUT"/wrk-m-$NAME.txt
kill -INT $SP $SP2; wait $SP $SP2 2>/dev/null
N=$(grep -oP '\d+(?= requests in)' "$OUT"/wrk-m-$NAME.txt)
perf script -i "$OUT"/malloc-$NAME.data 2>/dev/null | grep -oP 'bytes=0x[0-9a-f]+' | sort | uniq -c | sort -rn | python3 -c "import sys
for l in sys.stdin: c,b=l.split(); print(\"%8d bytes=%d\" % (int(c), int(b.split(\"=\")[1],16)))" > "$OUT"/malloc-sizes-$NAME.txt
M=$(awk '/probe_libc:malloc/ {gsub(",","",$1); print $1}' "$OUT"/malloc-count-$NAME.txt)
echo "== $NAME requests $N mallocs $M per request $(echo "$M $N" | awk '{printf "%.2f", $1/$2}')"
kill -- -$PID
