"""HTTP benchmarks for issue 2, measured side by side in one run on loopback.

Starts each server, waits for it, drives it with wrk (-t2 -c64, bounded duration), reads
resident memory from /proc, and times cold starts (process start to the first 200 answer).
Peers: a plain Node http server, workerd (if installed in bench/peers), and the Node custom
handler called directly. Prints a Markdown table; raw wrk output goes to bench/results/.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NIMBUS = os.path.join(ROOT, "build/release/nimbus")
RESULTS = os.path.join(ROOT, "bench/results")
DURATION = int(sys.argv[1]) if len(sys.argv) > 1 else 10
WORKERD = os.path.join(ROOT, "bench/peers/node_modules/.bin/workerd")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_200(url, timeout=20.0, interval=0.0005):
    """Polls until url answers 200; returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except Exception:
            time.sleep(interval)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def wrk(url, name, script=None, watch_pid=None):
    cmd = ["wrk", "-t2", "-c64", f"-d{DURATION}s", "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    peak_all = 0.0
    while proc.poll() is None:
        if watch_pid:
            peak = max(peak, rss_mb(watch_pid))
            peak_all = max(peak_all, rss_mb(watch_pid) + sum(rss_mb(c) for c in children(watch_pid)))
        time.sleep(0.25)
    out = proc.stdout.read()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.txt"), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "rss": peak, "rss_all": peak_all,
            "non2xx": int(errors.group(1)) if errors else 0}


def start(cmd, url, env=None, cwd=None):
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=cwd, start_new_session=True)
    wait_200(url)
    return proc, time.perf_counter() - t0


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except Exception:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except Exception:
            pass


def nimbus_cmd(app, port, data):
    return [NIMBUS, "start", app, "--port", str(port), "--data", data, "--no-auth"]


def in_process_app(tmp):
    app = os.path.join(tmp, "hello-inproc")
    shutil.copytree(os.path.join(ROOT, "examples/hello"), app)
    host = json.load(open(os.path.join(app, "host.json")))
    host["nimbus"]["native"]["inProcess"] = True
    host["logging"] = {"logLevel": {"default": "Warning"}}
    json.dump(host, open(os.path.join(app, "host.json"), "w"))
    return app


def quiet_app(tmp, src, name):
    """The same app with per-invocation logs at Warning, as one would run under load."""
    app = os.path.join(tmp, name)
    shutil.copytree(os.path.join(ROOT, src), app, ignore=shutil.ignore_patterns(".nimbus-data"))
    host = json.load(open(os.path.join(app, "host.json")))
    host["logging"] = {"logLevel": {"default": "Warning"}}
    json.dump(host, open(os.path.join(app, "host.json"), "w"))
    return app


def cold_start(cmd_for_port, path, runs=10, env=None, cwd=None):
    times = []
    for _ in range(runs):
        port = free_port()
        proc, t = start(cmd_for_port(port), f"http://127.0.0.1:{port}{path}", env=env, cwd=cwd)
        times.append(t * 1000)
        stop(proc)
    return statistics.median(times)


def main():
    tmp = tempfile.mkdtemp(prefix="nimbus-bench-")
    data = os.path.join(tmp, "data")
    rows = []
    worker_app = quiet_app(tmp, "examples/hello", "hello-worker")
    inproc_app = in_process_app(tmp)
    node_app = quiet_app(tmp, "examples/hello-node", "hello-node")

    def measure(label, cmd, url, path, script=None, env=None, cwd=None):
        proc, _ = start(cmd, url + path, env=env, cwd=cwd)
        idle = rss_mb(proc.pid)
        time.sleep(0.2)
        r = wrk(url + path, label.replace(" ", "_"), script=script, watch_pid=proc.pid)
        r["idle"] = idle
        stop(proc)
        rows.append((label, r))
        print(f"{label}: {r}", flush=True)

    p = free_port()
    measure("nimbus native in-process", nimbus_cmd(inproc_app, p, data), f"http://127.0.0.1:{p}", "/api/hello")
    p = free_port()
    measure("nimbus native worker", nimbus_cmd(worker_app, p, data), f"http://127.0.0.1:{p}", "/api/hello")
    p = free_port()
    measure("node http hello", ["node", os.path.join(ROOT, "bench/peers/node_hello.js"), str(p)],
            f"http://127.0.0.1:{p}", "/")
    workerd_cold = None
    if os.path.exists(WORKERD):
        template = open(os.path.join(ROOT, "bench/peers/workerd.capnp.in")).read()
        shutil.copy(os.path.join(ROOT, "bench/peers/worker.js"), tmp)

        def workerd_cmd(port):
            conf = os.path.join(tmp, f"workerd-{port}.capnp")
            with open(conf, "w") as f:
                f.write(template.replace("@PORT@", str(port)))
            return [WORKERD, "serve", conf]

        p = free_port()
        measure("workerd hello", workerd_cmd(p), f"http://127.0.0.1:{p}", "/")
        workerd_cold = cold_start(workerd_cmd, "/")
    p = free_port()
    measure("nimbus node custom handler", nimbus_cmd(node_app, p, data), f"http://127.0.0.1:{p}", "/api/hello/bench")
    p = free_port()
    env = dict(os.environ, FUNCTIONS_CUSTOMHANDLER_PORT=str(p))
    measure("node handler direct", ["node", "handler.js"], f"http://127.0.0.1:{p}", "/",
            script=os.path.join(ROOT, "bench/peers/handler_direct.lua"), env=env, cwd=node_app)

    cold_native = cold_start(lambda port: nimbus_cmd(worker_app, port, data), "/api/hello")
    cold_node = cold_start(lambda port: nimbus_cmd(node_app, port, data), "/api/hello/x")
    # The handler's own start: spawn it directly and wait for GET / (what readiness polls).
    times = []
    for _ in range(10):
        port = free_port()
        env = dict(os.environ, FUNCTIONS_CUSTOMHANDLER_PORT=str(port))
        proc, t = start(["node", "handler.js"], f"http://127.0.0.1:{port}/", env=env, cwd=node_app)
        times.append(t * 1000)
        stop(proc)
    cold_handler = statistics.median(times)

    print("\n| setup | req/s | p50 ms | p99 ms | RSS idle MB | RSS peak MB (host) | RSS peak MB (host+workers) | non-2xx |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['idle']:.1f} | {r['rss']:.1f} | {r['rss_all']:.1f} | {r['non2xx']} |")
    d = dict(rows)
    def ratio(a, b):
        return f"{d[a]['rps'] / d[b]['rps']:.2f}" if a in d and b in d else "n/a"
    print()
    print(f"- in-process / workerd: {ratio('nimbus native in-process', 'workerd hello')}")
    print(f"- in-process / node http: {ratio('nimbus native in-process', 'node http hello')}")
    print(f"- worker / workerd: {ratio('nimbus native worker', 'workerd hello')}")
    print(f"- node handler through nimbus / direct: {ratio('nimbus node custom handler', 'node handler direct')}")
    workerd_text = "n/a" if workerd_cold is None else f"{workerd_cold:.1f}"
    print(f"- cold start, median of 10: native {cold_native:.1f} ms; node custom handler {cold_node:.1f} ms "
          f"(handler alone {cold_handler:.1f} ms); workerd {workerd_text} ms")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
