#!/usr/bin/env bash
# The durable-orchestration benchmark (issue 10), Nimbus and the Restate peer in ONE run,
# loopback only, every step bounded by a count and a time limit (bench/README.md, "Durable
# orchestrations"):
#  Nimbus: `nimbus start examples/durable-fanout` on a fresh data directory, driven through the
#  Durable Functions management API by bench/durable/drive.mjs (at most 50 starts in flight):
#   (a) 4,000 `Chain {"steps":5}`: five-activity sequences/s, start -> completion p50/p99, and
#       the gap between one activity's TaskCompleted and the next TaskScheduled (history of 100);
#   (b) one `FanOut {"n":10000}`: activities/s;
#   (c) 3,000 `FanOut {"n":10}`: fan-out-of-10 workflows/s (a few seconds of work, so one
#       stall of this shared machine moves the rate less than it did over 1,000);
#   (d) the host's RSS (and its workers') after those.
#  Restate (bench/peers: restate-server 1.7.12, @restatedev/restate-sdk 1.17.2), right after, on
#  the same machine: the same fan-out-of-10 (bench/durable/restate_service.mjs), 1,000 started
#  with at most 50 in flight and awaited by attach (the same method as (c)), then 500 as
#  synchronous calls, 50 in flight; the server's RSS after.
# Every server and client runs in a loopback-only network namespace when run as root.
# Raw output: bench/results/<UTC time>-<commit>-durable/ (each step's output, steps.tsv with the
# exact command, exit code, milliseconds and load, machine.txt with the load before and after,
# the servers' logs, summary.json and summary.md: bench/durable/summarize.py).
#   bash bench/durable/run_durable_bench.sh
# Env: NIMBUS_BENCH_BUILD (build/release), NIMBUS_DURABLE_CHAINS (4000), NIMBUS_DURABLE_BIG
# (10000), NIMBUS_DURABLE_FANOUTS (3000), NIMBUS_DURABLE_RESTATE (1000), NIMBUS_DURABLE_RESTATE_CALLS
# (500), NIMBUS_DURABLE_CONCURRENCY (50), NIMBUS_DURABLE_SKIP_NIMBUS=1 / NIMBUS_DURABLE_SKIP_RESTATE=1,
# NIMBUS_DURABLE_TAG (folder suffix, default "durable").
set -uo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/../.."
BUILD=${NIMBUS_BENCH_BUILD:-build/release}
CHAINS=${NIMBUS_DURABLE_CHAINS:-4000}
BIG=${NIMBUS_DURABLE_BIG:-10000}
FANOUTS=${NIMBUS_DURABLE_FANOUTS:-3000}
RS_COUNT=${NIMBUS_DURABLE_RESTATE:-1000}
RS_CALLS=${NIMBUS_DURABLE_RESTATE_CALLS:-500}
CONC=${NIMBUS_DURABLE_CONCURRENCY:-50}
COMMIT=$(git rev-parse HEAD)
if [ -z "${NIMBUS_DURABLE_OUT:-}" ]; then
  OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-${COMMIT:0:10}-${NIMBUS_DURABLE_TAG:-durable}
  mkdir -p "$OUT"
  : > "$OUT/steps.tsv"
  {
    echo "commit $COMMIT"
    echo "uncommitted: $(git status --porcelain -- src include examples bench | tr '\n' ' ')"
    echo "nproc $(nproc); $(uname -sr); node $(node --version)"
    echo "before: $(uptime)"
  } > "$OUT/machine.txt"
else
  OUT=$NIMBUS_DURABLE_OUT  # the second half of a run, inside its network namespace
fi
STEPS=$OUT/steps.tsv
PIDS=()
TMPS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for d in "${TMPS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

step() {  # step NAME SECONDS COMMAND...: bounded by timeout, output teed to $OUT/NAME.txt
  local name=$1 secs=$2; shift 2
  echo "## $name (load: $(cut -d' ' -f1-3 /proc/loadavg)): $*"
  local t0=$(date +%s%N)
  timeout "$secs" "$@" 2>&1 | tee "$OUT/$name.txt"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" "$(cut -d' ' -f1-3 /proc/loadavg)" "$*" >> "$STEPS"
  [ "$rc" = 0 ] || echo "## $name exited $rc (recorded)"
}
note() {  # note NAME JSON: a result line of the script itself (errors, RSS), kept in $OUT/NAME.txt
  echo "result: $2" | tee -a "$OUT/$1.txt"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# until FILE has a line matching REGEX (the first capture group is printed), SECONDS at most
wait_log() {
  local file=$1 re=$2 secs=$3 end=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    local m
    m=$(grep -oP "$re" "$file" 2>/dev/null | head -1)
    [ -n "$m" ] && { echo "$m"; return 0; }
    sleep 0.1  # poll interval
  done
  return 1
}
mem_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null; }
children_rss_kb() {  # the summed VmRSS of PID's descendants
  local total=0 c
  for c in $(pgrep -P "$1"); do
    total=$(( total + $(mem_kb "$c" VmRSS || echo 0) + $(children_rss_kb "$c") ))
  done
  echo "$total"
}
cpu_s() {  # user+system CPU seconds of PID so far (and of its reaped children)
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat" 2>/dev/null || echo null
}
children_cpu_s() {  # the summed CPU seconds of PID's live descendants
  local total=0 c
  for c in $(pgrep -P "$1"); do
    total=$(python3 -c "print(round($total + $(cpu_s "$c") + $(children_cpu_s "$c"), 2))")
  done
  echo "$total"
}
tree_cpu_s() {  # CPU seconds of PID and its live descendants
  python3 -c "print(round($(cpu_s "$1") + $(children_cpu_s "$1"), 2))"
}
# measured NAME COUNT PIDS -- COMMAND...: step NAME with the CPU seconds its servers (PIDS and
# their descendants) spent during it, as a result line (cpu-NAME) with ms per instance.
measured() {
  local name=$1 count=$2; shift 2
  local pids=()
  while [ "$1" != -- ]; do pids+=("$1"); shift; done
  shift
  local before=() i=0 p
  for p in "${pids[@]}"; do before+=("$(tree_cpu_s "$p")"); done
  step "$name" "$@"
  local parts=""
  for p in "${pids[@]}"; do
    local d
    d=$(python3 -c "print(round($(tree_cpu_s "$p") - ${before[$i]}, 2))")
    parts+="{\"pid\":$p,\"comm\":\"$(cat /proc/$p/comm 2>/dev/null)\",\"cpu_s\":$d,\"cpu_ms_per_instance\":$(python3 -c "print(round(1000 * $d / max(1, $count), 2))")},"
    i=$((i + 1))
  done
  note "cpu-$name" "{\"step\":\"cpu\",\"of\":\"$name\",\"instances\":$count,\"servers\":[${parts%,}]}"
}
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()[-600:]))'; }

if [ -z "${NIMBUS_DURABLE_OUT:-}" ]; then
  step install-peers 900 bash bench/install-peers.sh
  # The measurements run in a network namespace of their own with only loopback (as root:
  # `unshare -n`), so nothing can leave the machine: restate-server 1.7.12 asks GitHub for its
  # latest release at every start (server/src/build_info.rs, not switched off by
  # disable-telemetry). Without root the run goes on here and machine.txt says so.
  if [ "$(id -u)" = 0 ] && unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
    echo "network: a loopback-only network namespace (unshare -n) for every server and client of the run" >> "$OUT/machine.txt"
    NIMBUS_DURABLE_OUT=$OUT unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$SELF"
    exit $?
  fi
  echo "network: the host's (no root for unshare -n; loopback addresses only, restate-server's release check may try to connect out)" >> "$OUT/machine.txt"
fi

DRIVE=(node bench/durable/drive.mjs)

# ------------------------------------------------------------------ Nimbus
if [ "${NIMBUS_DURABLE_SKIP_NIMBUS:-}" != 1 ]; then
  DATA=$(mktemp -d /tmp/nimbus-durable-bench-XXXXXX); TMPS+=("$DATA")
  "$BUILD/nimbus" start examples/durable-fanout --port 0 --queue-port 0 --docs-port 0 --data "$DATA" > "$OUT/nimbus.server.txt" 2>&1 &
  NPID=$!; PIDS+=("$NPID")
  PORT=$(wait_log "$OUT/nimbus.server.txt" 'Nimbus listening on http://127\.0\.0\.1:\K\d+' 60)
  KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["masterKey"])' "$DATA/keys.json" 2>/dev/null)
  if [ -z "$PORT" ] || [ -z "$KEY" ]; then
    note nimbus-fatal "{\"step\":\"nimbus_fatal\",\"error\":\"nimbus did not listen in 60 s or has no keys.json\",\"log\":$(jstr < "$OUT/nimbus.server.txt")}"
  else
    BASE=http://127.0.0.1:$PORT
    export NIMBUS_DURABLE_KEY=$KEY  # the data directory's master key, kept out of the logs
    N=(--base "$BASE" --concurrency "$CONC")
    step nimbus-warmup 120 "${DRIVE[@]}" nimbus "${N[@]}" --name FanOut --input '{"n":10}' --count 50 --prefix w-fan- --label nimbus-warmup --timeout 60 --expect '{"sum":385}'
    measured nimbus-chain5 "$CHAINS" "$NPID" -- 600 "${DRIVE[@]}" nimbus "${N[@]}" --name Chain --input '{"steps":5}' --count "$CHAINS" --prefix p-chain- --label nimbus-chain5 --timeout 300 --activities-per-instance 5 --expect 25 --history-sample 100
    SUM_BIG=$(python3 -c "n=$BIG; print(n*(n+1)*(2*n+1)//6)")
    measured nimbus-fanout-big 1 "$NPID" -- 600 "${DRIVE[@]}" nimbus "${N[@]}" --name FanOut --input "{\"n\":$BIG}" --count 1 --concurrency 1 --prefix p-big- --label nimbus-fanout$BIG --timeout 300 --activities-per-instance "$BIG" --expect "{\"sum\":$SUM_BIG}"
    measured nimbus-fanout10 "$FANOUTS" "$NPID" -- 600 "${DRIVE[@]}" nimbus "${N[@]}" --name FanOut --input '{"n":10}' --count "$FANOUTS" --prefix p-fan- --label nimbus-fanout10 --timeout 300 --activities-per-instance 10 --expect '{"sum":385}'
    if [ -d "/proc/$NPID" ]; then
      note rss "{\"step\":\"rss\",\"target\":\"nimbus host\",\"rss_kb\":$(mem_kb "$NPID" VmRSS),\"hwm_kb\":$(mem_kb "$NPID" VmHWM),\"children\":$(pgrep -P "$NPID" | wc -l),\"children_rss_kb\":$(children_rss_kb "$NPID"),\"cpu_s\":$(cpu_s "$NPID"),\"children_cpu_s\":$(children_cpu_s "$NPID"),\"instances\":$(( 50 + CHAINS + 1 + FANOUTS ))}"
    else
      note rss "{\"step\":\"rss\",\"target\":\"nimbus host\",\"error\":\"the host exited\",\"log\":$(jstr < "$OUT/nimbus.server.txt")}"
    fi
  fi
  kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null
  du -sh "$DATA" > "$OUT/nimbus-data-size.txt" 2>&1
fi

# ------------------------------------------------------------------ Restate
if [ "${NIMBUS_DURABLE_SKIP_RESTATE:-}" != 1 ]; then
  RBIN=$(ls bench/peers/node_modules/@restatedev/restate-server-linux-*/bin/restate-server 2>/dev/null | head -1)
  RDIR=$(mktemp -d /tmp/restate-durable-bench-XXXXXX); TMPS+=("$RDIR")
  if [ -z "$RBIN" ]; then
    note restate-fatal "{\"step\":\"restate_fatal\",\"error\":\"no restate-server binary under bench/peers/node_modules/@restatedev (see install-peers.txt)\"}"
  else
    "$RBIN" --version > "$OUT/restate-version.txt" 2>&1
    RNODE=${NIMBUS_DURABLE_RESTATE_NODE:-node}
    echo "service deployment: $("$RNODE" --version) ($RNODE)" >> "$OUT/restate-version.txt"
    P_NODE=$(free_port); P_ADMIN=$(free_port); P_INGRESS=$(free_port); P_SVC=$(free_port)
    # Defaults otherwise (24 partitions, fsync on); telemetry off, nothing listens beyond loopback.
    cat > "$RDIR/restate.toml" <<EOF
cluster-name = "nimbus-bench"
node-name = "bench"
base-dir = "$RDIR/data"
disable-telemetry = true
listen-mode = "tcp"
log-disable-ansi-codes = true
log-format = "compact"
bind-address = "127.0.0.1:$P_NODE"
advertised-address = "http://127.0.0.1:$P_NODE/"
[admin]
bind-address = "127.0.0.1:$P_ADMIN"
disable-web-ui = true
[ingress]
bind-address = "127.0.0.1:$P_INGRESS"
EOF
    cp "$RDIR/restate.toml" "$OUT/restate.toml"
    "$RBIN" --no-logo --config-file "$RDIR/restate.toml" > "$OUT/restate.server.txt" 2>&1 &
    RPID=$!; PIDS+=("$RPID")
    "$RNODE" bench/durable/restate_service.mjs "$P_SVC" > "$OUT/restate.service.txt" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    ok=0; reg=""
    end=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -lt "$end" ]; do  # admin up and the deployment registered, 60 s at most
      reg=$(curl -s -m 10 -w ' HTTP %{http_code}' -X POST -H 'content-type: application/json' \
        "http://127.0.0.1:$P_ADMIN/deployments" -d "{\"uri\":\"http://127.0.0.1:$P_SVC\"}")
      case "$reg" in *"HTTP 201"|*"HTTP 200") ok=1; break ;; esac
      sleep 0.2  # poll interval
    done
    echo "$reg" > "$OUT/restate-register.txt"
    if [ "$ok" != 1 ]; then
      note restate-fatal "{\"step\":\"restate_fatal\",\"error\":\"deployment not registered in 60 s\",\"answer\":$(jstr < "$OUT/restate-register.txt"),\"log\":$(jstr < "$OUT/restate.server.txt")}"
    else
      R=(--ingress "http://127.0.0.1:$P_INGRESS" --admin "http://127.0.0.1:$P_ADMIN" --n 10 --concurrency "$CONC")
      step restate-warmup 120 "${DRIVE[@]}" restate "${R[@]}" --count 50 --prefix w-rs- --label restate-warmup --timeout 60
      measured restate-fanout10 "$RS_COUNT" "$RPID" "$SPID" -- 600 "${DRIVE[@]}" restate "${R[@]}" --count "$RS_COUNT" --prefix r-fan- --label restate-fanout10 --timeout 300 --mode send
      measured restate-fanout10-call "$RS_CALLS" "$RPID" "$SPID" -- 600 "${DRIVE[@]}" restate "${R[@]}" --count "$RS_CALLS" --prefix r-call- --label restate-fanout10-call --timeout 300 --mode call
      if [ -d "/proc/$RPID" ]; then
        note rss "{\"step\":\"rss\",\"target\":\"restate-server\",\"rss_kb\":$(mem_kb "$RPID" VmRSS),\"hwm_kb\":$(mem_kb "$RPID" VmHWM),\"service_rss_kb\":$(mem_kb "$SPID" VmRSS || echo null),\"cpu_s\":$(cpu_s "$RPID"),\"service_cpu_s\":$(cpu_s "$SPID"),\"instances\":$(( 50 + RS_COUNT + RS_CALLS ))}"
      fi
    fi
    kill "$SPID" "$RPID" 2>/dev/null; wait "$SPID" "$RPID" 2>/dev/null
    grep -c -i -E ' (WARN|ERROR) ' "$OUT/restate.server.txt" > "$OUT/restate-warn-error-count.txt"
    du -sh "$RDIR/data" > "$OUT/restate-data-size.txt" 2>&1
  fi
fi

echo "after: $(uptime)" >> "$OUT/machine.txt"
python3 bench/durable/summarize.py "$OUT"
# The servers' logs (one line per invocation at their default levels: megabytes) kept compressed.
for f in "$OUT"/nimbus.server.txt "$OUT"/restate.server.txt "$OUT"/restate.service.txt; do [ -f "$f" ] && gzip -9 -f "$f"; done
echo "raw results: $OUT"
