#!/bin/bash
# A/B: alternate two builds, --only nimbus runs of crud_cpu, N rounds each
cd /work/main
for r in 1 2 3 4; do
  for b in /tmp/nds-d5fe4f3 /tmp/nds-86a4460; do
    echo "== $r $b"
    node bench/documents/crud_cpu.mjs --ops 3000 --rounds 1 --only nimbus --nimbus-bin $b 2>&1 >/dev/null | grep "^round"
  done
done
