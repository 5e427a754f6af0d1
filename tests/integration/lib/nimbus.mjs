// Starts real `nimbus` processes for integration tests and talks to them with Node's http.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const BIN = process.env.NIMBUS_BIN;
export const ROOT = process.env.NIMBUS_ROOT;
if (!BIN || !ROOT) throw new Error("run through ctest: NIMBUS_BIN and NIMBUS_ROOT must be set");

export const appPath = (rel) => path.join(ROOT, rel);

export function tempDir(prefix = "nimbus-it-") {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Copies an app folder so a test can change its host.json without touching the repo.
export function copyApp(rel, patchHost) {
  const dir = tempDir("nimbus-app-");
  fs.cpSync(appPath(rel), dir, { recursive: true });
  if (patchHost) {
    const file = path.join(dir, "host.json");
    const host = JSON.parse(fs.readFileSync(file, "utf8"));
    patchHost(host);
    fs.writeFileSync(file, JSON.stringify(host, null, 2));
  }
  return dir;
}

// Starts `nimbus start APP --port 0`; resolves once it logs the port it listens on.
// `wrapper` runs it through another command, e.g. ["bash", "-c", 'ulimit -n 160; exec "$@"', "nimbus"].
export function startNimbus(app, args = [], { timeoutMs = 20000, wrapper } = {}) {
  const data = tempDir("nimbus-data-");
  const argv = ["start", app, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", data, ...args];
  const [cmd, ...pre] = wrapper ?? [BIN];
  const proc = spawn(cmd, wrapper ? [...pre, BIN, ...argv] : argv, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const host = { proc, data, logs: "", port: 0, queuePort: 0, docsPort: 0, exited: null };
  proc.stdout.on("data", (d) => (host.logs += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`nimbus did not start within ${timeoutMs} ms:\n${host.logs}`));
    }, timeoutMs);
    proc.stderr.on("data", (d) => {
      host.logs += d;
      const m = /Nimbus listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(host.logs);
      if (m && !host.port) {
        host.port = Number(m[1]);
        const q = /Queue service listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(host.logs);
        if (q) host.queuePort = Number(q[1]);
        const d = /Document service \(Cosmos DB NoSQL API\) listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(host.logs);
        if (d) host.docsPort = Number(d[1]);
        clearTimeout(timer);
        resolve(host);
      }
    });
    proc.on("exit", (code, signal) => {
      host.exited = { code, signal };
      if (!host.port) {
        clearTimeout(timer);
        reject(new Error(`nimbus exited (${code ?? signal}) before listening:\n${host.logs}`));
      }
    });
  });
}

export async function stopNimbus(host) {
  if (!host || host.exited) return;
  const done = new Promise((r) => host.proc.on("exit", r));
  host.proc.kill("SIGTERM");
  const t = setTimeout(() => host.proc.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
}

// Runs nimbus to completion (for commands and start-up failures).
export function runNimbus(args, timeoutMs = 15000) {
  const r = spawnSync(BIN, args, { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function keys(host) {
  return JSON.parse(fs.readFileSync(path.join(host.data, "keys.json"), "utf8"));
}

export function request(port, method, urlPath, { headers = {}, body, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path: urlPath, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${urlPath}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Sends raw bytes and returns whatever the server answers before closing.
export function rawRequest(port, bytes, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let out = "";
    sock.setTimeout(timeoutMs, () => sock.destroy());
    sock.on("data", (d) => (out += d));
    sock.on("close", () => resolve(out));
    sock.on("error", (e) => (out ? resolve(out) : reject(e)));
    sock.write(bytes);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `check` (sync or async) until it returns a truthy value, which it resolves with; throws
// after `timeoutMs`, naming `what` and the last value seen. For tests that wait on a condition
// instead of sleeping a fixed time and hoping.
export async function waitFor(check, { timeoutMs = 10000, intervalMs = 20, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(intervalMs);
  }
}

// Resolves with the first match of `pattern` in a started host's log (stdout + stderr), waiting
// for the output to arrive; rejects after `timeoutMs` or when the host exits without it.
export function waitForLog(host, pattern, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const look = () => pattern.exec(host.logs);
    const first = look();
    if (first) return resolve(first);
    if (host.exited) return reject(new Error(`host exited before logging ${pattern}:\n${host.logs.slice(-2000)}`));
    const onData = () => setImmediate(() => {
      const m = look();
      if (m) { done(); resolve(m); }
    });
    const onExit = () => setImmediate(() => {
      const m = look();
      done();
      if (m) resolve(m);
      else reject(new Error(`host exited before logging ${pattern}:\n${host.logs.slice(-2000)}`));
    });
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${host.logs.slice(-2000)}`));
    }, timeoutMs);
    function done() {
      clearTimeout(timer);
      host.proc.stdout.off("data", onData);
      host.proc.stderr.off("data", onData);
      host.proc.off("exit", onExit);
    }
    host.proc.stdout.on("data", onData);
    host.proc.stderr.on("data", onData);
    host.proc.on("exit", onExit);
  });
}

// The value of the first /metrics sample matching `pattern` (one capture group), or 0.
export async function metricValue(host, pattern) {
  const m = (await request(host.port, "GET", "/metrics")).body.match(pattern);
  return m ? Number(m[1]) : 0;
}
