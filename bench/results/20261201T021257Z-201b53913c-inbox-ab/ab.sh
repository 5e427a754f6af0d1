#!/bin/bash
# A/B: four rounds, each one --only nimbus run of crud_cpu with BEFORE, then one with AFTER.
#   bash ab.sh BEFORE_BIN AFTER_BIN   (from the repository root)
BEFORE=$1 AFTER=$2
for r in 1 2 3 4; do
  for b in "$BEFORE" "$AFTER"; do
    echo "== $r $b"
    node bench/documents/crud_cpu.mjs --ops 3000 --rounds 1 --only nimbus --nimbus-bin "$b" 2>&1 >/dev/null | grep "^round"
  done
done
