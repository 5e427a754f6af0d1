#!/bin/bash
# usage: run.sh BUILD COUNT [perf]
cd /work/main
BUILD=$1; COUNT=$2
DATA=$(mktemp -d /tmp/ndb-XXXX)
$BUILD/nimbus start examples/durable-fanout --port 0 --queue-port 0 --docs-port 0 --data $DATA > /tmp/dprof/server.txt 2>&1 &
NPID=$!
for i in $(seq 100); do PORT=$(grep -oP 'Nimbus listening on http://127\.0\.0\.1:\K\d+' /tmp/dprof/server.txt | head -1); [ -n "$PORT" ] && break; sleep 0.1; done
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["masterKey"])' $DATA/keys.json)
export NIMBUS_DURABLE_KEY=$KEY
node bench/durable/drive.mjs nimbus --base http://127.0.0.1:$PORT --concurrency 50 --name FanOut --input '{"n":10}' --count 200 --prefix w- --label warm >/dev/null
for t in /proc/$NPID/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done > /tmp/dprof/before.txt
[ "$3" = perf ] && { perf record -e cpu-clock -F 2000 -g -p $NPID -o /tmp/dprof/perf.data 2>/dev/null & PP=$!; sleep 0.3; }
node bench/durable/drive.mjs nimbus --base http://127.0.0.1:$PORT --concurrency 50 --name FanOut --input '{"n":10}' --count $COUNT --prefix p- --label fan --expect '{"sum":385}' | grep result
[ -n "$PP" ] && { kill -INT $PP; wait $PP; }
for t in /proc/$NPID/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done > /tmp/dprof/after.txt
join /tmp/dprof/before.txt /tmp/dprof/after.txt | awk '{d=$5-$3; if (d>0) print $2, d" ticks"}'
for c in $(pgrep -P $NPID); do echo "child $(cat /proc/$c/comm) $(awk '{print $14+$15}' /proc/$c/stat)"; done
kill $NPID; wait $NPID; rm -rf $DATA
