"""Collects one bench/run.sh run into OUT/run.json: the commit and whether the work tree had
uncommitted changes (and which files, since the binaries were built from the tree), the machine,
every step with its exact command, exit code and duration, and each step's figures (the JSON the
scripts wrote, the loadgen JSON lines of the queue-service step).
Usage: python3 bench/collect_results.py OUT COMMIT
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys

out, commit = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git(*args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout


def load(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


steps = []
with open(os.path.join(out, "steps.tsv")) as f:
    for line in f:
        name, rc, ms, cmd = line.rstrip("\n").split("\t", 3)
        steps.append({"name": name, "exit_code": int(rc), "ms": int(ms), "command": cmd,
                      "raw_output": f"{name}.txt"})

queue_service = []
qs = os.path.join(out, "queue-service.txt")
if os.path.exists(qs):
    heading, command = None, None
    for line in open(qs):
        line = line.rstrip("\n")
        if line.startswith("# "):
            heading = line[2:]
        elif line.startswith("$ "):
            command = line[2:]
        elif line.startswith("{"):
            try:
                queue_service.append({"phase": heading, "command": command, **json.loads(line)})
            except ValueError:
                pass
        elif line.startswith("server CPU") and queue_service:
            m = re.search(r"([\d.]+)$", line)
            if m:
                queue_service[-1]["server_cpu"] = {"what": line.split(":")[0], "value": float(m.group(1))}

is_work_tree = git("rev-parse", "--is-inside-work-tree").strip() == "true"
dirty = [l for l in git("status", "--porcelain").splitlines() if l and not l[3:].startswith("bench/results/")]
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
run = {
    "commit": commit,
    "commit_subject": git("log", "-1", "--format=%s", commit).strip(),
    "uncommitted_changes": dirty if is_work_tree else "not a git work tree: an export of the commit (git archive)",
    "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cpus": os.cpu_count(), "cpu": cpu_model, "kernel": platform.release(),
                "loadavg_at_end": open("/proc/loadavg").read().split()[:3]},
    "build": os.environ.get("NIMBUS_BENCH_BUILD", "build/release"),
    "steps": steps,
    "http": load("http.json"),
    "queue_service": queue_service,
    "queue_trigger": load("queue_trigger.json"),
    "sdk_compare": load("sdk_compare.json"),
}
with open(os.path.join(out, "run.json"), "w") as f:
    json.dump(run, f, indent=1)
failed = [s["name"] for s in steps if s["exit_code"] != 0]
print(f"run.json written; steps that failed: {failed or 'none'}; uncommitted files in the tree: {len(dirty)}")
