#!/usr/bin/env bash
# npm packages for end-to-end clients and benchmark peers, installed into tests/e2e/node_modules
# (git-ignored). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
if [ ! -d node_modules ] || [ package.json -nt node_modules ]; then
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules
fi
