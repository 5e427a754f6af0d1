#!/usr/bin/env bash
# Runs the HTTP benchmarks side by side in one run (see bench/README.md). Loopback only;
# every load is bounded by wrk's duration. Usage: bash bench/run.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d bench/peers/node_modules/workerd ]; then
  (cd bench/peers && npm install --no-audit --no-fund --loglevel=error) || echo "workerd unavailable; skipping it"
fi
python3 bench/http_bench.py "${1:-10}"
python3 bench/queue_trigger_bench.py 20000
