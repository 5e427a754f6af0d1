"""HTTP benchmarks, measured side by side in one run on loopback.

Starts each server, waits for it, drives it with wrk (-t2 -c64, bounded duration), reads
resident memory from /proc, and times cold starts (process start to the first 200 answer).
Peers: a plain Node http server, workerd (bench/peers), nginx (one worker, keep-alive
upstream) proxying to the same Node custom handler Nimbus fronts, and that handler called
directly. A peer that cannot run is a row with its error, never a silently missing row.

Usage: python3 bench/http_bench.py [seconds-per-wrk-run] [--only custom-handler] [--rounds N]
Env: NIMBUS_BENCH_BUILD (default build/release), NIMBUS_BENCH_OUT (raw results directory,
default bench/results/scratch), NIMBUS_BENCH_BASELINE_BUILD (optional: a build directory of an
earlier commit, whose nimbus joins the custom-handler rounds as one more row, so a change is
measured before and after in the same run; NIMBUS_BENCH_BASELINE_COMMIT names its commit). Writes http.json (every command, every wrk output, the table)
and one .txt per wrk run there; prints a Markdown table.
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
BUILD = os.path.join(ROOT, os.environ.get("NIMBUS_BENCH_BUILD", "build/release"))
NIMBUS = os.path.join(BUILD, "nimbus")
RESULTS = os.environ.get("NIMBUS_BENCH_OUT") or os.path.join(ROOT, "bench/results/scratch")
_args = [a for a in sys.argv[1:]]
ONLY = _args[_args.index("--only") + 1] if "--only" in _args else None
ROUNDS = int(_args[_args.index("--rounds") + 1]) if "--rounds" in _args else 1
_pos = [a for i, a in enumerate(_args) if not a.startswith("--") and (i == 0 or not _args[i - 1].startswith("--"))]
DURATION = int(_pos[0]) if _pos else 10
WORKERD = os.path.join(ROOT, "bench/peers/node_modules/.bin/workerd")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BASELINE_BUILD = os.environ.get("NIMBUS_BENCH_BASELINE_BUILD")
BASELINE = os.path.join(BASELINE_BUILD, "nimbus") if BASELINE_BUILD else None
COMMANDS = []  # every command this run executed, in order (servers and load generators)


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
    load_before = open("/proc/loadavg").read().split()[0]
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
    COMMANDS.append(" ".join(cmd))
    with open(os.path.join(RESULTS, f"{name}.txt"), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk gave no rate: {out[-500:]}")
    rps = float(m.group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "rss": peak, "rss_all": peak_all,
            "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": sock.group(1) if sock else "",
            "loadavg_1min_before": float(load_before),
            "loadavg_1min_after": float(open("/proc/loadavg").read().split()[0]),
            "wrk_command": " ".join(cmd), "wrk_output": out}


def start(cmd, url, env=None, cwd=None, record=True):
    if record:
        COMMANDS.append(" ".join(cmd))
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=cwd, start_new_session=True)
    try:
        wait_200(url)
    except Exception as e:
        stop(proc)
        log.seek(0)
        raise RuntimeError(f"{e}; its output: {log.read().decode(errors='replace')[-800:]}") from None
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


def nimbus_cmd(app, port, data, binary=None):
    return [binary or NIMBUS, "start", app, "--port", str(port), "--queue-port", "0", "--docs-port", "0",
            "--data", data, "--no-auth"]


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


def cold_start(cmd_for_port, path, runs=10, env=None, cwd=None, env_for_port=None):
    times = []
    for i in range(runs):
        port = free_port()
        cmd = cmd_for_port(port)
        if i == 0:
            COMMANDS.append(f"cold start x{runs}: " + " ".join(cmd))
        proc, t = start(cmd, f"http://127.0.0.1:{port}{path}", env=env_for_port(port) if env_for_port else env,
                        cwd=cwd, record=False)
        times.append(t * 1000)
        stop(proc)
    return statistics.median(times)


from nginx_peer import NGINX_CONF  # one worker, keep-alive upstream (shared with ch_cpu.py)



def nginx_cmd(tmp, port, upstream):
    d = os.path.join(tmp, f"nginx-{port}")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port, upstream=upstream))
    return [NGINX, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")]


def median_row(results):
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[-1]
    by = sorted(ok, key=lambda r: r["rps"])
    mid = dict(by[len(by) // 2])
    mid["rounds_rps"] = [round(r["rps"]) for r in ok]
    mid["rounds_p99"] = [r["p99"] for r in ok]
    return mid


def main():
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="nimbus-bench-")
    data = os.path.join(tmp, "data")
    rows = {}  # label -> list of results (one per round); a result is wrk figures or {"error"}
    worker_app = quiet_app(tmp, "examples/hello", "hello-worker")
    inproc_app = in_process_app(tmp)
    node_app = quiet_app(tmp, "examples/hello-node", "hello-node")
    python_app = quiet_app(tmp, "examples/hello-python", "hello-python")
    direct_script = os.path.join(ROOT, "bench/peers/handler_direct.lua")

    def measure(label, cmd, url, path, script=None, env=None, cwd=None, before=None, ready=None):
        """before: (cmd, url, env, cwd) of a process the measured one needs (nginx's upstream)."""
        procs = []
        try:
            if before:
                procs.append(start(before[0], before[1], env=before[2], cwd=before[3])[0])
            proc, _ = start(cmd, url + (ready or path), env=env, cwd=cwd)
            procs.append(proc)
            idle = rss_mb(proc.pid)
            time.sleep(0.2)
            r = wrk(url + path, re.sub(r"[^A-Za-z0-9.-]+", "_", label) + (f"_round{len(rows.get(label, [])) + 1}" if ROUNDS > 1 else ""),
                    script=script, watch_pid=proc.pid)
            r["idle"] = idle
        except Exception as e:  # a peer that cannot run is reported, not dropped
            r = {"error": str(e)}
        finally:
            for p in reversed(procs):
                stop(p)
        rows.setdefault(label, []).append(r)
        shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items() if k not in ("wrk_output", "wrk_command")}
        print(f"{label}: {shown}", flush=True)

    def handler_env(port):
        return dict(os.environ, FUNCTIONS_CUSTOMHANDLER_PORT=str(port))

    if ONLY is None:
        p = free_port()
        measure("nimbus native in-process", nimbus_cmd(inproc_app, p, data), f"http://127.0.0.1:{p}", "/api/hello")
        p = free_port()
        measure("nimbus native worker", nimbus_cmd(worker_app, p, data), f"http://127.0.0.1:{p}", "/api/hello")
        p = free_port()
        measure("node http hello", ["node", os.path.join(ROOT, "bench/peers/node_hello.js"), str(p)],
                f"http://127.0.0.1:{p}", "/")
    template = open(os.path.join(ROOT, "bench/peers/workerd.capnp.in")).read()
    shutil.copy(os.path.join(ROOT, "bench/peers/worker.js"), tmp)

    def workerd_cmd(port):
        conf = os.path.join(tmp, f"workerd-{port}.capnp")
        with open(conf, "w") as f:
            f.write(template.replace("@PORT@", str(port)))
        return [WORKERD, "serve", conf]

    if ONLY is None:
        p = free_port()
        measure("workerd hello", workerd_cmd(p), f"http://127.0.0.1:{p}", "/")

    # The custom-handler trio, interleaved per round: Nimbus in front of the handler, nginx in
    # front of the same handler (same payload as the direct call), the handler called directly.
    # The order rotates every round (round r starts with row r): on this shared machine the row
    # that runs first in a round was measured slower, so a fixed order ranks the rows by place.
    def nimbus_row():
        p = free_port()
        measure("nimbus node custom handler", nimbus_cmd(node_app, p, data), f"http://127.0.0.1:{p}", "/api/hello/bench")

    def baseline_row():
        p = free_port()
        measure("nimbus (baseline) node custom handler", nimbus_cmd(node_app, p, data, BASELINE),
                f"http://127.0.0.1:{p}", "/api/hello/bench")

    def nginx_row():
        hp, p = free_port(), free_port()
        measure("nginx -> node handler", nginx_cmd(tmp, p, hp), f"http://127.0.0.1:{p}", "/hello",
                script=direct_script, ready="/",
                before=(["node", "handler.js"], f"http://127.0.0.1:{hp}/", handler_env(hp), node_app))

    def direct_row():
        p = free_port()
        measure("node handler direct", ["node", "handler.js"], f"http://127.0.0.1:{p}", "/hello",
                script=direct_script, env=handler_env(p), cwd=node_app, ready="/")

    round_rows = [nimbus_row] + ([baseline_row] if BASELINE else []) + [nginx_row, direct_row]
    for r in range(ROUNDS if ONLY != "python" else 0):
        k = r % len(round_rows)
        for row in round_rows[k:] + round_rows[:k]:
            row()

    # The Python custom handler (http.server, issue 8 item 7) behind Nimbus and called directly
    # with the same payload: the pair shows what Nimbus adds in front of a Python handler.
    if ONLY in (None, "python"):
        p = free_port()
        measure("nimbus python custom handler", nimbus_cmd(python_app, p, data), f"http://127.0.0.1:{p}",
                "/api/hello/bench")
        p = free_port()
        measure("python handler direct", ["python3", "handler.py"], f"http://127.0.0.1:{p}", "/hello",
                script=direct_script, env=handler_env(p), cwd=python_app, ready="/")

    cold = {}
    if ONLY is None:
        def timed(name, fn):
            try:
                cold[name] = round(fn(), 1)
            except Exception as e:
                cold[name] = {"error": str(e)}
        timed("native", lambda: cold_start(lambda port: nimbus_cmd(worker_app, port, data), "/api/hello"))
        timed("node_custom_handler", lambda: cold_start(lambda port: nimbus_cmd(node_app, port, data), "/api/hello/x"))
        # The handler's own start: spawn it directly and wait for GET / (what readiness polls).
        timed("node_handler_alone", lambda: cold_start(lambda port: ["node", "handler.js"], "/", cwd=node_app,
                                                       env_for_port=handler_env))
        timed("workerd", lambda: cold_start(workerd_cmd, "/"))

    table = {label: median_row(results) for label, results in rows.items()}
    print(f"\n| setup | req/s | p50 ms | p99 ms | RSS idle MB | RSS peak MB (host) | RSS peak MB (host+workers) | non-2xx | error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in table.items():
        if "error" in r:
            print(f"| {label} | - | - | - | - | - | - | - | {r['error'][:200]} |")
        else:
            print(f"| {label} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['idle']:.1f} | {r['rss']:.1f} | "
                  f"{r['rss_all']:.1f} | {r['non2xx']} | {r['socket_errors']} |")

    def ratio(a, b):
        ra, rb = table.get(a, {}), table.get(b, {})
        return round(ra["rps"] / rb["rps"], 3) if "rps" in ra and "rps" in rb else None
    ratios = {
        "in_process_over_workerd": ratio("nimbus native in-process", "workerd hello"),
        "in_process_over_node_http": ratio("nimbus native in-process", "node http hello"),
        "worker_over_workerd": ratio("nimbus native worker", "workerd hello"),
        "nimbus_handler_over_direct": ratio("nimbus node custom handler", "node handler direct"),
        "nginx_handler_over_direct": ratio("nginx -> node handler", "node handler direct"),
        "nimbus_handler_over_nginx": ratio("nimbus node custom handler", "nginx -> node handler"),
        "nimbus_python_handler_over_direct": ratio("nimbus python custom handler", "python handler direct"),
    }
    if BASELINE:
        ratios["baseline_handler_over_direct"] = ratio("nimbus (baseline) node custom handler", "node handler direct")
        ratios["baseline_handler_over_nginx"] = ratio("nimbus (baseline) node custom handler", "nginx -> node handler")
        ratios["nimbus_handler_over_baseline"] = ratio("nimbus node custom handler", "nimbus (baseline) node custom handler")
    # Per-round ratios of the trio (each round's rows ran back to back).
    per_round = []
    trio = rows.get("nimbus node custom handler", [])
    for i in range(len(trio)):
        def rr(a, b):
            ra = rows.get(a, [])[i] if i < len(rows.get(a, [])) else {}
            rb = rows.get(b, [])[i] if i < len(rows.get(b, [])) else {}
            return round(ra["rps"] / rb["rps"], 3) if "rps" in ra and "rps" in rb else None
        entry = {"nimbus_over_nginx": rr("nimbus node custom handler", "nginx -> node handler"),
                 "nimbus_over_direct": rr("nimbus node custom handler", "node handler direct"),
                 "nginx_over_direct": rr("nginx -> node handler", "node handler direct")}
        if BASELINE:
            entry["baseline_over_nginx"] = rr("nimbus (baseline) node custom handler", "nginx -> node handler")
            entry["baseline_over_direct"] = rr("nimbus (baseline) node custom handler", "node handler direct")
        for label, key in (("nimbus node custom handler", "nimbus_p99"), ("nginx -> node handler", "nginx_p99"),
                           ("node handler direct", "direct_p99"), ("nimbus (baseline) node custom handler", "baseline_p99")):
            if i < len(rows.get(label, [])) and "p99" in rows[label][i]:
                entry[key] = rows[label][i]["p99"]
        per_round.append(entry)
    print()
    for k, v in ratios.items():
        print(f"- {k}: {v if v is not None else 'n/a'}")
    for i, e in enumerate(per_round):
        print(f"- round {i + 1}: {e}")
    if cold:
        print(f"- cold start, median of 10 (ms): {cold}")
    with open(os.path.join(RESULTS, "http.json"), "w") as f:
        json.dump({"duration_s": DURATION, "rounds": ROUNDS, "row_order": "rotated per round (round r starts with row r)", "only": ONLY, "build": BUILD,
                   "commands": COMMANDS, "table": table, "per_round": per_round,
                   "baseline_build": BASELINE_BUILD, "baseline_commit": os.environ.get("NIMBUS_BENCH_BASELINE_COMMIT"), "all_rounds": rows, "ratios": ratios,
                   "cold_start_ms": cold}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
