#!/usr/bin/env python3
"""Host CPU per HTTP request, two builds interleaved in one run: the shared HTTP server's cost
with as little else as possible around it (the native `examples/hello` function in process,
logs at Warning, no auth). For an A/B of a change to src/http/http_server.cc.

usage: http_server_cpu.py <build dir A> <build dir B> [rounds=4] [seconds=6] [out.json]
Each round runs A then B (the order alternates between rounds): the host is started, warmed up
(1 s of wrk), then wrk -t2 -c64 runs for `seconds`; the host's utime+stime from /proc/<pid>/stat
before and after, divided by the requests wrk counted, is its CPU per request. Bounded: wrk -d.
"""
import json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.environ.get("NIMBUS_ROOT", os.getcwd())  # run from the repository root
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12]), int(f[11]), int(f[12])


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


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", url], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    m = re.search(r"(\d+) requests in", out)
    return int(m.group(1)) if m else 0, out


def one(build, app, seconds):
    port = free_port(); data = tempfile.mkdtemp(prefix="nimbus-cpu-")
    cmd = [os.path.join(build, "nimbus"), "start", app, "--port", str(port), "--data", data, "--no-auth"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/hello"
        if not wait_200(url): return {"error": "no 200"}
        wrk(url, 1)
        t0, u0, s0 = cpu_ticks(p.pid)
        n, out = wrk(url, seconds)
        t1, u1, s1 = cpu_ticks(p.pid)
        load = os.getloadavg()[0]
        return {"requests": n, "rps": n / seconds, "cpu_us_per_req": (t1 - t0) / TICK * 1e6 / max(n, 1),
                "user_us": (u1 - u0) / TICK * 1e6 / max(n, 1), "sys_us": (s1 - s0) / TICK * 1e6 / max(n, 1),
                "loadavg_1min": load, "wrk": out}
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try: p.wait(10)
        except Exception: os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)


def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    tmp = tempfile.mkdtemp(prefix="nimbus-cpu-app-")
    app = os.path.join(tmp, "hello")
    shutil.copytree(os.path.join(ROOT, "examples/hello"), app)
    host = json.load(open(os.path.join(app, "host.json")))
    host["nimbus"]["native"]["inProcess"] = True
    host["logging"] = {"logLevel": {"default": "Warning"}}
    json.dump(host, open(os.path.join(app, "host.json"), "w"))
    rows = []
    for r in range(rounds):
        order = [("A", a), ("B", b)] if r % 2 == 0 else [("B", b), ("A", a)]
        for name, build in order:
            res = one(build, app, seconds)
            res.update(round=r + 1, build=name, dir=build)
            rows.append(res)
            print(f"round {r+1} {name}: {res.get('cpu_us_per_req', 0):.1f} us/req "
                  f"({res.get('user_us', 0):.1f}+{res.get('sys_us', 0):.1f}), {res.get('rps', 0):.0f} req/s, "
                  f"load {res.get('loadavg_1min', 0):.2f}", flush=True)
    for name in ("A", "B"):
        v = sorted(x["cpu_us_per_req"] for x in rows if x["build"] == name and "cpu_us_per_req" in x)
        print(f"{name}: median {v[len(v)//2]:.1f} us/req, all {[round(x,1) for x in v]}")
    if len(sys.argv) > 5:
        json.dump({"command": sys.argv, "rows": rows}, open(sys.argv[5], "w"), indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


main()
