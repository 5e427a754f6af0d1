#!/usr/bin/env python3
"""Collects a docs benchmark run folder (run_docs_bench.sh) into summary.json and summary.md.

Every "result: {json}" line of every step's output, plus document_store_bench's phase lines
("create 20000 in 1.1 s = 18133/s, ...", then read, upsert, replace, delete), with the step's load average from steps.tsv.
  summarize.py RUN_DIR
"""
import json
import os
import re
import sys


def main():
    run = sys.argv[1]
    loads = {}
    if os.path.exists(os.path.join(run, "steps.tsv")):
        for line in open(os.path.join(run, "steps.tsv")):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                loads[parts[0]] = {"rc": int(parts[1]), "ms": int(parts[2]), "load": parts[3], "command": parts[4] if len(parts) > 4 else ""}
    results = []
    for name in sorted(os.listdir(run)):
        if not name.endswith(".txt"):
            continue
        step = name[:-4]
        for line in open(os.path.join(run, name), errors="replace"):
            if line.startswith("result: "):
                try:
                    r = json.loads(line[len("result: "):])
                except json.JSONDecodeError:
                    continue
                r["file"] = name
                if step in loads:
                    r["load"] = loads[step]["load"]
                results.append(r)
            m = re.match(r"(create|read|upsert|replace|delete)\s+(\d+) in ([\d.]+) s = (\d+)/s(.*)", line)
            if m:
                results.append({"step": "store_" + m.group(1), "file": name, "count": int(m.group(2)),
                                "seconds": float(m.group(3)), "per_s": int(m.group(4)), "detail": m.group(5).strip(),
                                "load": loads.get(step, {}).get("load")})
    json.dump({"steps": loads, "results": results}, open(os.path.join(run, "summary.json"), "w"), indent=1)
    lines = ["| file | step | target / query | figure | load |", "|---|---|---|---|---|"]
    for r in results:
        what = r.get("query") or r.get("target") or ""
        if r.get("client"):
            what = f"{r.get('target')} {r['client']}: {what}"
        if "p50_ms" in r:
            fig = f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms ({r.get('runs')} runs)" if r["p50_ms"] not in (None, -1) else "no runs"
        elif "per_s" in r:
            fig = f"{r['per_s']}/s"
        elif "median_ms" in r:
            fig = f"median {r['median_ms']} ms"
        elif "rss_kb" in r:
            fig = f"RSS {r['rss_kb'] / 1024:.1f} MB (peak {r['hwm_kb'] / 1024:.1f})"
        else:
            fig = json.dumps({k: v for k, v in r.items() if k not in ("file", "step", "load")})[:120]
        if r.get("error"):
            fig += f" ERROR: {r['error']}"
        lines.append(f"| {r['file']} | {r['step']} | {what} | {fig} | {r.get('load', '')} |")
    open(os.path.join(run, "summary.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
