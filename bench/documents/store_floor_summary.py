#!/usr/bin/env python3
"""Medians of a store_floor.sh run: crud_cpu.mjs's server CPU per SDK operation for Nimbus, the
peer, the nginx floor and the durable floor (with the target, peer / 4), and the store's own
CPU per operation (process / writer thread) for each indexing mode.
  store_floor_summary.py OUT_DIR
"""
import json
import os
import re
import statistics
import sys


def main():
    out = sys.argv[1]
    rows = json.load(open(os.path.join(out, "crud_cpu.json")))["rows"]
    cpu = {}
    for r in rows:
        cpu.setdefault((r["server"], r["op"]), []).append(r["server_cpu_us_per_op"])
    print("crud_cpu.mjs, medians, us of server CPU per SDK operation:")
    for op in ["create", "read", "upsert", "replace If-Match", "delete"]:
        m = {s: statistics.median(cpu[(s, op)]) for s in ["nimbus", "peer", "floor", "durable"] if (s, op) in cpu}
        if "nimbus" not in m or "peer" not in m:
            continue
        print(f"  {op:17s} nimbus {m['nimbus']:.1f}  peer {m['peer']:.1f}  nginx floor {m.get('floor', float('nan')):.1f}"
              f"  durable floor {m.get('durable', float('nan')):.1f}  target {m['peer'] / 4:.1f}  peer/nimbus {m['peer'] / m['nimbus']:.2f}x")
    store, mode = {}, None
    for line in open(os.path.join(out, "stdout.txt")):
        m = re.match(r"### round \d+, (\w+)", line)
        if m:
            mode = m.group(1)
            continue
        m = re.match(r"(create|read|upsert|replace|delete)\s+\d+ in .*process ([\d.]+) us(.*)", line)
        if m and mode:
            writer = re.search(r"store-writer ([\d.]+) us", m.group(3))
            store.setdefault((mode, m.group(1)), []).append((float(m.group(2)), float(writer.group(1)) if writer else 0.0))
    print("document_store_bench, medians, us of CPU per operation (process / store-writer thread):")
    for op in ["create", "read", "upsert", "replace", "delete"]:
        parts = []
        for mode in ["indexed", "none"]:
            v = store.get((mode, op))
            if v:
                parts.append(f"{mode} {statistics.median(p for p, _ in v):.1f} / {statistics.median(w for _, w in v):.1f} (n={len(v)})")
        print(f"  {op:8s} " + "  ".join(parts))


if __name__ == "__main__":
    main()
