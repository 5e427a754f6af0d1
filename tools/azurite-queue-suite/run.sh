#!/usr/bin/env bash
# Runs Azurite's own queue test suite (tests/queue, official SDK) against nimbus-queue-server.
# Usage: tools/azurite-queue-suite/run.sh AZURITE_CHECKOUT [NIMBUS_QUEUE_SERVER]
#   AZURITE_CHECKOUT: a checkout of Azurite at v3.35.0 (not part of this repo; never commit it)
#   with its devDependencies installed (`npm install --ignore-scripts` there).
# The only change made to the checkout: its start-up hook, tests/queue/utils/
# QueueTestServerFactory.ts, is replaced by ours (this folder), which starts nimbus-queue-server
# on the suite's port 11001 with a fresh data directory per test file (HTTPS with the suite's
# own certificate where a test asks for it). The original hook is restored on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
azurite="$(cd "${1:?usage: run.sh AZURITE_CHECKOUT [NIMBUS_QUEUE_SERVER]}" && pwd)"
bin="${2:-$here/../../build/release/nimbus-queue-server}"
hook="$azurite/tests/queue/utils/QueueTestServerFactory.ts"
cp "$hook" "$hook.orig"
trap 'mv "$hook.orig" "$hook"' EXIT
cp "$here/QueueTestServerFactory.ts" "$hook"
cd "$azurite"
# Transpile only: the hook returns our server object where the suite's types name Azurite's.
NIMBUS_QUEUE_SERVER="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" \
TS_NODE_TRANSPILE_ONLY=1 NODE_TLS_REJECT_UNAUTHORIZED=0 \
  timeout 900 npx mocha --require ts-node/register --no-timeouts --recursive --exit \
  'tests/queue/*.test.ts' 'tests/queue/**/*.test.ts'
