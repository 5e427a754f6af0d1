set -u
build=$1; port=$2
app=$(mktemp -d); cp -r examples/hello $app/; python3 - $app/hello/host.json <<'P'
import json,sys; p=sys.argv[1]; h=json.load(open(p)); h["nimbus"]["native"]["inProcess"]=True; h["logging"]={"logLevel":{"default":"Warning"}}; json.dump(h,open(p,"w"))
P
data=$(mktemp -d)
setsid $build/nimbus start $app/hello --port $port --data $data --no-auth >/dev/null 2>&1 &
pid=$!
for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$port/api/hello && break; sleep 0.1; done
timeout 20 strace -c -f -p $pid -o /tmp/sc-$port.txt &
st=$!
sleep 1
wrk -t2 -c64 -d4s http://127.0.0.1:$port/api/hello | grep "requests in"
sleep 0.5; kill -INT $st; wait $st 2>/dev/null
kill -TERM $pid; wait $pid 2>/dev/null
head -20 /tmp/sc-$port.txt
rm -rf $app $data
