# Shell pieces the benchmark scripts share; sourced, not run.

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: until something listens on PORT, 60 s at most (a server under valgrind is slow).
wait_port() {
  for _ in $(seq 1 600); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1  # poll interval
  done
  echo "nothing listens on $1 after 60 s" >&2
  return 1
}

# callgrind_phase NAME OPERATIONS COMMAND...: zero the counters of the callgrind run VPID, run
# COMMAND, dump, and append "LABEL NAME operations=N instructions=I per_operation=I/N" to
# RESULT; the dump is kept as OUT/instructions-LABEL-NAME.callgrind.gz. Needs VPID, OUT, LABEL,
# RESULT, and the run started with --callgrind-out-file=OUT/instructions-LABEL.callgrind.%p.
callgrind_phase() {
  local name=$1 ops=$2
  shift 2
  callgrind_control -z "$VPID" > /dev/null 2>&1
  timeout 900 "$@" > "$OUT/instructions-$LABEL-$name.drive.txt" || { echo "phase $name failed" >&2; exit 1; }
  callgrind_control -d "$VPID" > /dev/null 2>&1
  local dump total
  dump=$(ls -t "$OUT"/instructions-$LABEL.callgrind.*.[0-9]* 2>/dev/null | grep -v '\.gz$' | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$LABEL $name operations=$ops instructions=$total per_operation=$((total / ops))" | tee -a "$RESULT"
  mv "$dump" "$OUT/instructions-$LABEL-$name.callgrind"
  gzip -f "$OUT/instructions-$LABEL-$name.callgrind"
}
