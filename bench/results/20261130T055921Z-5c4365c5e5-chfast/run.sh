#!/bin/bash
# usage: run.sh <nimbus binary> <port> ; starts nimbus in background, prints its pid
# Env: APP = a copy of examples/hello-node with host.json logging at Warning; OUT = a scratch directory.
BIN=$1; PORT=$2
D=$(mktemp -d "$OUT"/data.XXXX)
setsid $BIN start "$APP" --port $PORT --queue-port 0 --docs-port 0 --data $D --no-auth >"$OUT"/nimbus-$PORT.log 2>&1 &
echo $!
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/api/hello/bench >/dev/null && break; sleep 0.1; done
