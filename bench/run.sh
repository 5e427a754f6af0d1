#!/usr/bin/env bash
# Runs every benchmark side by side in one run (see bench/README.md). Loopback only; every
# load is bounded by a duration or a count. Usage: bash bench/run.sh [seconds-per-wrk-run]
# Set NIMBUS_BENCH_AZURITE=1 to add the official-SDK comparison against Azurite (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d bench/peers/node_modules/workerd ] || [ ! -d bench/peers/node_modules/azurite ]; then
  (cd bench/peers && npm install --no-audit --no-fund --loglevel=error) || echo "workerd unavailable; skipping it"
fi
echo "## HTTP (issue 2)"
python3 bench/http_bench.py "${1:-10}"
echo "## Queue service (issue 3)"
bash bench/queue/run.sh build/release
echo "## Queue trigger (issue 3)"
python3 bench/queue_trigger_bench.py 20000
if [ "${NIMBUS_BENCH_AZURITE:-0}" = 1 ]; then
  echo "## Official SDK: Nimbus against Azurite"
  node bench/queue/sdk_compare.mjs --puts 10000 --drain 20000 --phase-seconds 60
fi
