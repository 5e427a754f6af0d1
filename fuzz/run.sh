#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on its seed corpus, never writing into the
# repository: usage  run.sh <fuzzer binary> <seconds> [extra libFuzzer flags...]
# The seeds (fuzz/corpus/<target>/) are copied to a fresh temporary directory, where the run
# grows its corpus; set NIMBUS_FUZZ_KEEP=<dir> to grow <dir>/<target> instead and keep it
# across runs (`make fuzz` keeps it in build/fuzz/grown). A crash leaves its input in the
# temporary directory, which is then kept and named in the output.
set -euo pipefail
bin=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin")
seeds=$here/corpus/$name
dict=$here/dict/$name.dict

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-fuzz-$name.XXXXXX")
if [ -n "${NIMBUS_FUZZ_KEEP:-}" ]; then
  work=$NIMBUS_FUZZ_KEEP/$name
  mkdir -p "$work"
else
  work=$tmp/corpus
  mkdir -p "$work"
fi
[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true

args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
      -artifact_prefix="$tmp/")
[ -f "$dict" ] && args+=(-dict="$dict")

status=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$bin" "${args[@]}" "$@" "$work" >"$tmp/log" 2>&1 || status=$?
# The statistics and anything unusual; the full log stays in $tmp on failure.
grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|INFO: Seed|artifact_prefix|Test unit written)' "$tmp/log" || true
if [ $status -ne 0 ]; then
  echo "----- $name FAILED (exit $status); last lines of $tmp/log:"
  tail -n 60 "$tmp/log"
  for a in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* "$tmp"/slow-unit-*; do
    [ -f "$a" ] || continue
    echo "----- input $a (reproduce: $bin $a):"
    od -A d -c "$a" | head -n 40
  done
  exit $status
fi
rm -rf "$tmp"
