#!/bin/bash
# Malloc calls and system calls per request of the Nimbus host in front of the Node
# custom handler, two builds interleaved: counts of work that the machine's load barely
# moves, unlike CPU time. usage: instr.sh <nimbus A> <nimbus B> <app dir> [rounds=2] [seconds=5]
# Needs perf and the uprobe probe_libc:malloc (perf probe -x <libc> malloc).
A=$1; B=$2; APP=$3; ROUNDS=${4:-2}; SECS=${5:-5}
for r in $(seq 1 $ROUNDS); do
  for pair in "A $A" "B $B"; do
    set -- $pair; NAME=$1; BIN=$2
    DATA=$(mktemp -d); PORT=$((18100 + RANDOM % 500))
    $BIN start $APP --port $PORT --queue-port 0 --docs-port 0 --data $DATA --no-auth >/dev/null 2>&1 &
    PID=$!
    for i in $(seq 1 100); do curl -sf http://127.0.0.1:$PORT/api/hello/w >/dev/null && break; sleep 0.1; done
    wrk -t2 -c64 -d1s http://127.0.0.1:$PORT/api/hello/bench >/dev/null
    perf stat -x, -e probe_libc:malloc,raw_syscalls:sys_enter -p $PID -o $DATA/stat.txt -- sleep $((SECS + 1)) &
    SP=$!
    sleep 0.5
    N=$(wrk -t2 -c64 -d${SECS}s http://127.0.0.1:$PORT/api/hello/bench | awk '/requests in/ {print $1}')
    wait $SP
    SYS=$(awk -F, "/sys_enter/ {print \$1}" $DATA/stat.txt); MAL=$(awk -F, '/malloc/ {print $1}' $DATA/stat.txt)
    # The perf window is 1 s longer than wrk's: the host is idle then (no requests, no work).
    echo "round $r $NAME: requests $N, syscalls/req $(echo "scale=2; $SYS / $N" | bc), malloc/req $(echo "scale=1; $MAL / $N" | bc)"
    kill $PID; wait $PID 2>/dev/null; rm -rf $DATA
  done
done
