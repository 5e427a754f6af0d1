"""Queue-trigger benchmarks (issue 3): messages processed per second by a trivial native
function and by the Node example-style handler, and put-to-function-start latency.

Prefill: nimbus-queue-server + nimbus-queue-loadgen put N messages into bench-in on a data
directory; then `nimbus start` with the benchmark app on that directory drains it, and we time
from its "listening" line to the processed counter reaching N. Loopback only, bounded.
Usage: python3 bench/queue_trigger_bench.py [N]
"""
import json
import os
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
B = os.path.join(ROOT, "build/release")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


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
    srv = subprocess.Popen([os.path.join(B, "nimbus-queue-server"), "--port", str(qp), "--data", data],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while "listening" not in srv.stdout.readline():
        pass
    out = subprocess.run([os.path.join(B, "nimbus-queue-loadgen"), "put", "--port", str(qp), "--queue",
                          "bench-in", "--count", str(n), "--size", "32"], capture_output=True, text=True)
    srv.send_signal(signal.SIGTERM)
    srv.wait(timeout=30)
    return out.stdout.strip()


def drain_rate(app, label):
    data = tempfile.mkdtemp(prefix="nimbus-qbench-")
    prefill(data, N)
    port, qport = free_port(), free_port()
    host = subprocess.Popen([os.path.join(B, "nimbus"), "start", app, "--port", str(port), "--queue-port",
                             str(qport), "--data", data, "--no-auth"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
        rate = done / secs
        print(f"{label}: drained {done}/{N} in {secs:.2f} s = {rate:.0f} msg/s; "
              f"host RSS peak {peak_rss:.1f} MB", flush=True)
        lat = subprocess.run(["node", os.path.join(ROOT, "bench/queue_latency.mjs"), str(qport), "300"],
                             capture_output=True, text=True, timeout=120)
        print(f"{label}: put-to-function-start latency {lat.stdout.strip() or lat.stderr[-500:]}", flush=True)
        return rate, lat.stdout.strip()
    finally:
        host.send_signal(signal.SIGTERM)
        host.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def main():
    drain_rate(os.path.join(ROOT, "bench/apps/queue-native"), "native trivial function")
    drain_rate(os.path.join(ROOT, "bench/apps/queue-node"), "node custom handler")


if __name__ == "__main__":
    main()
