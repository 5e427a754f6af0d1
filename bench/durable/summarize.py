#!/usr/bin/env python3
"""Collects the `result: {json}` lines of a run_durable_bench.sh run into summary.json and
summary.md (every figure; the Nimbus / Restate ratio of the same run).
  python3 bench/durable/summarize.py bench/results/<run>"""
import json
import pathlib
import re
import sys

out = pathlib.Path(sys.argv[1])
results = []
order = []  # files in the order the steps ran (steps.tsv), then the rest (rss, fatal notes)
if (out / "steps.tsv").exists():
    order = [line.split("\t", 1)[0] + ".txt" for line in (out / "steps.tsv").read_text().splitlines() if line]
files = sorted(out.glob("*.txt"), key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
for f in files:
    for line in f.read_text(errors="replace").splitlines():
        if line.startswith("result: "):
            try:
                results.append(json.loads(line[len("result: "):]))
            except json.JSONDecodeError as e:
                results.append({"step": f.stem, "unparsed": line[:300], "error": str(e)})
by = {r.get("step"): r for r in results}
steps = []
if (out / "steps.tsv").exists():
    for line in (out / "steps.tsv").read_text().splitlines():
        name, rc, ms, load, cmd = line.split("\t", 4)
        steps.append({"name": name, "exit": int(rc), "ms": int(ms), "load": load, "command": cmd})
machine = (out / "machine.txt").read_text() if (out / "machine.txt").exists() else ""


def logs_errors(name, pattern):
    p = out / name
    if not p.exists():
        return None
    lines = [l for l in p.read_text(errors="replace").splitlines() if re.search(pattern, l)]
    kinds = {}
    for l in lines:  # one kind per message with its time, ids and numbers taken out
        k = re.sub(r"^\S+Z\s+", "", l)
        k = re.sub(r"(inv|dp)_[A-Za-z0-9]+|\d+", "#", k)[:160]
        kinds[k] = kinds.get(k, 0) + 1
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:5]
    return {"count": len(lines), "kinds": [{"n": n, "message": k} for k, n in top], "sample": lines[:3]}


summary = {
    "results": results,
    "steps": steps,
    "machine": machine,
    "restate_server_warn_error": logs_errors("restate.server.txt", r"\b(WARN|ERROR)\b"),
    "restate_service_errors": logs_errors("restate.service.txt", r"ERROR|Error:"),
    "nimbus_server_errors": logs_errors("nimbus.server.txt", r"(?i)\b(error|fail)"),
}


def f(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def rate(r, key="per_s_server"):
    return r.get(key) if r else None


nf = by.get("nimbus-fanout10")
rs = by.get("restate-fanout10")
rc = by.get("restate-fanout10-call")
ratios = {}
if nf and rs and rate(nf) and rate(rs):
    ratios["nimbus_over_restate_server"] = rate(nf) / rate(rs)
    ratios["nimbus_over_restate_wall"] = rate(nf, "per_s_wall") / rate(rs, "per_s_wall")
if nf and rc and rate(nf) and rate(rc, "per_s_wall"):
    ratios["nimbus_over_restate_call_wall"] = rate(nf, "per_s_wall") / rate(rc, "per_s_wall")
summary["ratios"] = ratios
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")

md = [f"# Durable orchestrations — {out.name}", "", "```", machine.strip(), "```", ""]
md += ["| step | target | count | completed | wrong output | start errors | per s (server span) | per s (wall) | latency p50 / p99 ms | other |",
       "|---|---|---|---|---|---|---|---|---|---|"]
for r in results:
    if "count" not in r:
        continue
    lat = r.get("latency_ms") or {}
    other = []
    if r.get("activities_per_s_server") is not None:
        other.append(f"activities/s {f(r['activities_per_s_server'], 0)} (server span), {f(r.get('activities_per_s_wall'), 0)} (wall)")
    if r.get("activity_gap_ms"):
        g = r["activity_gap_ms"]
        other.append(f"TaskCompleted→next TaskScheduled p50 {g['p50']} / p99 {g['p99']} ms over {g['n']} gaps (ms timestamps)")
    if r.get("call_latency_ms"):
        c = r["call_latency_ms"]
        other.append(f"call latency p50 {f(c['p50'], 0)} / p99 {f(c['p99'], 0)} ms (client)")
    if r.get("start_latency_ms") and r["start_latency_ms"].get("p50") is not None:
        s = r["start_latency_ms"]
        other.append(f"start answer p50 {f(s['p50'], 1)} / p99 {f(s['p99'], 1)} ms")
    if r.get("by_status"):
        other.append("statuses " + json.dumps(r["by_status"]))
    if not r.get("all_finished"):
        other.append("**NOT ALL FINISHED within the bound**")
    for k in ("start_error_sample", "attach_error_sample", "poll_error_sample", "invocation_failure_sample"):
        if r.get(k):
            other.append(f"{k}: {json.dumps(r[k])[:300]}")
    md.append(f"| {r['step']} | {r.get('target')} | {f(r['count'])} | {f(r.get('completed'))} | {f(r.get('wrong_output'))} | {f(r.get('start_errors'))} | "
              f"{f(r.get('per_s_server'))} | {f(r.get('per_s_wall'))} | {f(lat.get('p50'), 0)} / {f(lat.get('p99'), 0)} | {'; '.join(other)} |")
md.append("")
for r in results:
    if r.get("step") == "rss":
        md.append(f"- RSS {r.get('target')}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("step", "target")))
    elif r.get("step") == "cpu":
        md.append(f"- CPU during {r.get('of')} ({r.get('instances')} instances): " + "; ".join(
            f"{x.get('comm')} {x.get('cpu_s')} s = {x.get('cpu_ms_per_instance')} ms per instance" for x in r.get("servers", [])))
    elif "fatal" in r or str(r.get("step", "")).endswith("_fatal"):
        md.append(f"- FATAL {r.get('step')}: {json.dumps(r)[:600]}")
for k, v in ratios.items():
    md.append(f"- {k}: {v:.2f}")
for k in ("restate_server_warn_error", "restate_service_errors", "nimbus_server_errors"):
    v = summary.get(k)
    if v is not None:
        md.append(f"- {k}: {v['count']} lines" + "".join(f"\n  - {x['n']} × `{x['message']}`" for x in v["kinds"]))
md += ["", "| step | exit | ms | load (1/5/15) | command |", "|---|---|---|---|---|"]
for s in steps:
    md.append(f"| {s['name']} | {s['exit']} | {s['ms']} | {s['load']} | `{s['command'][:200]}` |")
(out / "summary.md").write_text("\n".join(md) + "\n")
print("\n".join(md))
