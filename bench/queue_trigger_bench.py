"""Queue-trigger benchmarks: messages processed per second by a trivial native function and by
the Node example-style handler, and put-to-function-start latency.

Prefill: nimbus-queue-server + nimbus-queue-loadgen put N messages into bench-in on a data
directory; then `nimbus start` with the benchmark app on that directory drains it. The drain is
timed from the first invocation's start to the last invocation's end, as the functions stamp
them (NIMBUS_BENCH_STAMPS, see the apps); the older figure, from the host's "listening" line to
the processed counter reaching N (polled every 50 ms), is kept beside it. Loopback only; every
wait is bounded. Usage: python3 bench/queue_trigger_bench.py [N]
Env: NIMBUS_BENCH_BUILD (default build/release), NIMBUS_BENCH_OUT (writes queue_trigger.json).
"""
import json
import os
import struct
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.path.join(ROOT, os.environ.get("NIMBUS_BENCH_BUILD", "build/release"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
OUT = os.environ.get("NIMBUS_BENCH_OUT") or os.path.join(ROOT, "bench/results/scratch")
COMMANDS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_line(proc, pattern, timeout=20):
    t0 = time.time()
    buf = ""
    while time.time() - t0 < timeout:
        line = proc.stderr.readline() if proc.stderr else ""
        buf += line
        m = re.search(pattern, buf)
        if m:
            return m
    raise RuntimeError(f"did not see {pattern}: {buf[-2000:]}")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def processed(port, function):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf'nimbus_queue_messages_total{{function="{function}",queue="[^"]+",outcome="processed"}} (\d+)', body)
    return int(m.group(1)) if m else 0


def prefill(data, n):
    qp = free_port()
    cmd = [os.path.join(B, "nimbus-queue-server"), "--port", str(qp), "--data", data]
    COMMANDS.append(" ".join(cmd))
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    t0 = time.time()
    while "listening" not in srv.stdout.readline():
        if srv.poll() is not None or time.time() - t0 > 20:
            raise RuntimeError("nimbus-queue-server did not start")
    cmd = [os.path.join(B, "nimbus-queue-loadgen"), "put", "--port", str(qp), "--queue",
           "bench-in", "--count", str(n), "--size", "32", "--max-seconds", "120"]
    COMMANDS.append(" ".join(cmd))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=30)
    return out.stdout.strip()


def read_stamps(path):
    with open(path, "rb") as f:
        b = f.read(24)
    return struct.unpack("<QQQ", b) if len(b) == 24 else (0, 0, 0)


def drain_rate(app, label):
    data = tempfile.mkdtemp(prefix="nimbus-qbench-")
    result = {"label": label, "app": os.path.relpath(app, ROOT), "messages": N}
    result["prefill"] = prefill(data, N)
    stamps = os.path.join(data, "stamps.bin")
    with open(stamps, "wb") as f:
        f.write(b"\0" * 24)
    port, qport = free_port(), free_port()
    cmd = [os.path.join(B, "nimbus"), "start", app, "--port", str(port), "--queue-port", str(qport), "--docs-port", "0",
           "--data", data, "--no-auth"]
    COMMANDS.append("NIMBUS_BENCH_STAMPS=<file> " + " ".join(cmd))
    host = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, NIMBUS_BENCH_STAMPS=stamps))
    try:
        wait_line(host, r"Nimbus listening")
        t0 = time.perf_counter()
        done = 0
        peak_rss = 0
        while done < N and time.perf_counter() - t0 < 300:
            time.sleep(0.05)
            done = processed(port, "drain")
            peak_rss = max(peak_rss, rss_mb(host.pid))
        secs = time.perf_counter() - t0
        # The stamps of the last invocations may land a moment after the counter (the Node
        # handler writes them every 20 ms): wait for the count, bounded.
        t1 = time.time()
        first, last, count = read_stamps(stamps)
        while count < done and time.time() - t1 < 5:
            time.sleep(0.02)
            first, last, count = read_stamps(stamps)
        span = (last - first) / 1e6 if count and last > first else None
        result.update({
            "processed": done,
            "listening_to_counter_s": round(secs, 3),
            "listening_to_counter_msgs_per_s": round(done / secs),
            "stamped_invocations": count,
            "first_to_last_s": round(span, 3) if span else None,
            "first_to_last_msgs_per_s": round(count / span) if span else None,
            "host_rss_peak_mb": round(peak_rss, 1),
        })
        print(f"{label}: {done}/{N} processed; first-to-last invocation {span and round(span, 3)} s = "
              f"{result['first_to_last_msgs_per_s']} msg/s ({count} stamped); listening-to-counter "
              f"{secs:.2f} s = {done / secs:.0f} msg/s; host RSS peak {peak_rss:.1f} MB", flush=True)
        cmd = ["node", os.path.join(ROOT, "bench/queue_latency.mjs"), str(qport), "300"]
        COMMANDS.append(" ".join(cmd))
        lat = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        try:
            result["latency"] = json.loads(lat.stdout.strip())
        except ValueError:
            result["latency"] = {"error": (lat.stdout + lat.stderr)[-800:]}
        print(f"{label}: put-to-function-start latency {result['latency']}", flush=True)
        return result
    finally:
        host.send_signal(signal.SIGTERM)
        host.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main():
    results = []
    for app, label in (("bench/apps/queue-native", "native trivial function"),
                       ("bench/apps/queue-node", "node custom handler")):
        try:
            results.append(drain_rate(os.path.join(ROOT, app), label))
        except Exception as e:  # reported in the results, not dropped
            print(f"{label}: ERROR {e}", flush=True)
            results.append({"label": label, "error": str(e)})
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "queue_trigger.json"), "w") as f:
        json.dump({"messages": N, "build": B, "commands": COMMANDS, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
