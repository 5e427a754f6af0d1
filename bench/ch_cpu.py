#!/usr/bin/env python3
"""CPU per request in front of the Node custom handler: two Nimbus builds and nginx (one worker,
keep-alive upstream, the same config as bench/http_bench.py) interleaved in one run, so a change
to the custom-handler path (src/workers, src/http, src/runtime) is judged by the proxy's own CPU
per request, which a shared, noisy machine disturbs far less than the request rate.

usage: python3 bench/ch_cpu.py <build dir A> <build dir B> [rounds=3] [seconds=6] [out.json]
Each round runs A, B and nginx (the order rotates between rounds): the proxy and its handler are
started, warmed up (1 s of wrk), then wrk -t2 -c64 runs for `seconds`. The proxy's utime+stime
(/proc/<pid>/stat, the proxy process alone) and the handler's, divided by the requests wrk
counted, are their CPU per request. Bounded: every wrk run has -d and a timeout.
CH_CPU_B_NIMBUS='{"customHandler": {...}}' merges into B's host.json `nimbus` section, so one
build can be compared with itself under other settings (B's app is a copy of its own).
"""
import json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DIRECT_SCRIPT = os.path.join(ROOT, "bench/peers/handler_direct.lua")


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])


def free_port():
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_200(url, timeout=20):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200: return True
        except Exception:
            time.sleep(0.02)
    return False


def wrk(url, seconds, script=None):
    cmd = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"] + (["-s", script] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", out, re.M)
    p99_ms = None
    if p99:
        v, u = float(p99.group(1)), p99.group(2)
        p99_ms = v / 1000 if u == "us" else v * 1000 if u == "s" else v
    return (int(m.group(1)) if m else 0), p99_ms, out


def children(pid):
    try:
        return [int(x) for x in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def kill(p):
    try:
        os.killpg(p.pid, signal.SIGTERM); p.wait(10)
    except Exception:
        try: os.killpg(p.pid, signal.SIGKILL)
        except Exception: pass


def measure(proxy_pid, handler_pid, url, seconds, script):
    wrk(url, 1, script)
    pu0, ps0 = cpu(proxy_pid); hu0, hs0 = cpu(handler_pid)
    n, p99, out = wrk(url, seconds, script)
    pu1, ps1 = cpu(proxy_pid); hu1, hs1 = cpu(handler_pid)
    per = lambda t: t / TICK * 1e6 / max(n, 1)
    return {"requests": n, "rps": n / seconds, "p99_ms": p99,
            "proxy_us": per(pu1 - pu0 + ps1 - ps0), "proxy_user_us": per(pu1 - pu0), "proxy_sys_us": per(ps1 - ps0),
            "handler_us": per(hu1 - hu0 + hs1 - hs0), "loadavg_1min": os.getloadavg()[0], "wrk": out}


def nimbus(build, app, seconds):
    port = free_port(); data = tempfile.mkdtemp(prefix="nimbus-chcpu-")
    cmd = [os.path.join(build, "nimbus"), "start", app, "--port", str(port), "--queue-port", "0",
           "--docs-port", "0", "--data", data, "--no-auth"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/hello/bench"
        if not wait_200(url): return {"error": "no 200"}
        kids = children(p.pid)
        if len(kids) != 1: return {"error": f"expected one handler process, found {kids}"}
        return measure(p.pid, kids[0], url, seconds, None)
    finally:
        kill(p); shutil.rmtree(data, ignore_errors=True)


from nginx_peer import NGINX_CONF  # the same proxy as http_bench.py



def nginx(app, seconds):
    hp, port = free_port(), free_port()
    d = tempfile.mkdtemp(prefix="nimbus-chcpu-nginx-")
    conf = os.path.join(d, "nginx.conf")
    open(conf, "w").write(NGINX_CONF.format(dir=d, port=port, upstream=hp))
    h = subprocess.Popen(["node", "handler.js"], cwd=app, env=dict(os.environ, FUNCTIONS_CUSTOMHANDLER_PORT=str(hp)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    g = None
    try:
        if not wait_200(f"http://127.0.0.1:{hp}/"): return {"error": "handler gave no 200"}
        g = subprocess.Popen([NGINX, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if not wait_200(f"http://127.0.0.1:{port}/"): return {"error": "nginx gave no 200"}
        workers = children(g.pid)
        if len(workers) != 1: return {"error": f"expected one nginx worker, found {workers}"}
        return measure(workers[0], h.pid, f"http://127.0.0.1:{port}/hello", seconds, DIRECT_SCRIPT)
    finally:
        if g: kill(g)
        kill(h); shutil.rmtree(d, ignore_errors=True)


def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    tmp = tempfile.mkdtemp(prefix="nimbus-chcpu-app-")
    app = os.path.join(tmp, "hello-node")
    shutil.copytree(os.path.join(ROOT, "examples/hello-node"), app, ignore=shutil.ignore_patterns(".nimbus-data"))
    host = json.load(open(os.path.join(app, "host.json")))
    host["logging"] = {"logLevel": {"default": "Warning"}}
    json.dump(host, open(os.path.join(app, "host.json"), "w"))
    app_b = app
    if os.environ.get("CH_CPU_B_NIMBUS"):
        app_b = os.path.join(tmp, "hello-node-b")
        shutil.copytree(app, app_b)
        host.setdefault("nimbus", {}).update(json.loads(os.environ["CH_CPU_B_NIMBUS"]))
        json.dump(host, open(os.path.join(app_b, "host.json"), "w"))
    targets = [("A", lambda: nimbus(a, app, seconds)), ("B", lambda: nimbus(b, app_b, seconds)),
               ("nginx", lambda: nginx(app, seconds))]
    rows = []
    for r in range(rounds):
        for name, fn in targets[r % 3:] + targets[:r % 3]:
            res = fn()
            res.update(round=r + 1, target=name)
            rows.append(res)
            if "error" in res:
                print(f"round {r+1} {name}: ERROR {res['error']}", flush=True); continue
            print(f"round {r+1} {name}: proxy {res['proxy_us']:.1f} us/req ({res['proxy_user_us']:.1f}+"
                  f"{res['proxy_sys_us']:.1f}), handler {res['handler_us']:.1f} us/req, {res['rps']:.0f} req/s, "
                  f"p99 {res['p99_ms']} ms, load {res['loadavg_1min']:.2f}", flush=True)
    for name, _ in targets:
        ok = [x for x in rows if x["target"] == name and "proxy_us" in x]
        if not ok: continue
        med = lambda k: sorted(x[k] for x in ok)[len(ok) // 2]
        print(f"{name}: median proxy {med('proxy_us'):.1f} us/req, handler {med('handler_us'):.1f} us/req, "
              f"{med('rps'):.0f} req/s; proxy all {[round(x['proxy_us'], 1) for x in ok]}")
    if len(sys.argv) > 5:
        json.dump({"command": sys.argv, "rows": rows}, open(sys.argv[5], "w"), indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


main()
