#!/usr/bin/env bash
# User-space instructions per SDK operation of nimbus-docs-server and nimbus-queue-server,
# counted by callgrind: a measure the load of a shared machine does not move (CPU seconds do,
# by tens of percent between runs a minute apart), for comparing builds. It counts every thread
# of the server, not the kernel (system calls, TCP, fsync), and valgrind slows the server ~50x,
# so group commits hold fewer operations than at full speed: compare builds with it, do not
# read it as a rate. Phases: the five document operations of bench/documents/docs_instructions.sh
# with 2,000 items (official @azure/cosmos, 32 in flight), then 2,000 queue puts (official
# @azure/storage-queue, 64 in flight, after 100 unmeasured); the counters are zeroed before and
# dumped after each phase.
#   bash bench/sdk_instructions.sh OUT_DIR LABEL BUILD_DIR
# Writes OUT_DIR/instructions-LABEL.txt (one line per phase) and the dumps beside it (gzipped).
set -uo pipefail
OUT=$1 LABEL=$2 BUILD=$(realpath "$3")
cd "$(dirname "$(realpath "$0")")/.."
bash bench/documents/docs_instructions.sh "$OUT" "$LABEL" "$BUILD" 2000 || exit 1
RESULT=$OUT/instructions-$LABEL.txt  # docs_instructions.sh started it; the put phase appends
DATA=$(mktemp -d /tmp/nimbus-sdk-instructions-XXXXXX)
VPID=""
trap '[ -n "$VPID" ] && kill $VPID 2>/dev/null; rm -rf "$DATA"' EXIT

source bench/lib.sh  # free_port, wait_port, callgrind_phase

PORT=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$OUT/instructions-$LABEL.callgrind.%p" \
  "$BUILD/nimbus-queue-server" --port "$PORT" --data "$DATA/queue" --log-level Warning \
  > "$OUT/instructions-$LABEL-queue.server.txt" 2>&1 &
VPID=$!
wait_port "$PORT" || exit 1
timeout 300 node bench/queue/sdk_puts.mjs "$PORT" 100 > /dev/null || { echo "queue warm-up failed" >&2; exit 1; }
callgrind_phase put 2000 node bench/queue/sdk_puts.mjs "$PORT" 2000
kill "$VPID"; wait "$VPID" 2>/dev/null
VPID=""
rm -f "$OUT"/instructions-$LABEL.callgrind.*[0-9]  # the final dumps at exit (not phases)
