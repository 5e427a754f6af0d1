#!/usr/bin/env bash
# Installs the peers Nimbus is benchmarked against (not needed to build or test):
#   npm: workerd, Azurite, @vercel/cosmosdb-server, and the Restate server, CLI and TypeScript SDK
#   (bench/durable), into bench/peers/node_modules (git-ignored), from package.json;
#   Debian: nginx (a reverse proxy in front of the same custom handler Nimbus fronts).
# Idempotent; a peer that cannot be installed is reported, and bench/run.sh records the error in
# its results instead of leaving the row out silently. Loopback-only use; no service is enabled.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
if [ ! -d bench/peers/node_modules/workerd ] || [ ! -d bench/peers/node_modules/azurite ] ||
   [ ! -d bench/peers/node_modules/@vercel/cosmosdb-server ] ||
   [ ! -d bench/peers/node_modules/@restatedev/restate-server ] ||
   [ ! -d bench/peers/node_modules/@restatedev/restate-sdk ] ||
   [ bench/peers/package.json -nt bench/peers/node_modules ]; then
  if (cd bench/peers && npm install --no-audit --no-fund --loglevel=error); then
    touch bench/peers/node_modules
  else
    echo "install-peers: npm install in bench/peers failed (workerd, Azurite, cosmosdb-server, Restate)" >&2
    status=1
  fi
fi
debs=(nginx)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  # The benchmark runs its own nginx with its own config on a free loopback port; the package's
  # post-install may try to start the system service, which is left as the machine's policy says.
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "install-peers: apt-get install ${missing[*]} failed" >&2
    status=1
  fi
fi
exit $status
