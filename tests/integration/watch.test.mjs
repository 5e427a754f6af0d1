// Developer experience of `nimbus start`: --watch reloads what a saved change affects without
// failing a request, and --log-format text is a readable console (Core Tools style).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { describe, test } from "node:test";
import { copyApp, request, runNimbus, startNimbus, stopNimbus, waitFor, waitForLog } from "./lib/nimbus.mjs";

// `clients` keep-alive-free loops of GET `urlPath` until stop(); every answer that is not a
// 200 (or a connection error) is a failure. `bodies` counts the answers seen.
function load(port, urlPath, clients = 4) {
  const state = { ok: 0, failures: [], bodies: new Map(), stopped: false };
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          if (res.statusCode === 200) state.ok++;
          else state.failures.push(`${res.statusCode} ${text}`);
          state.bodies.set(text, (state.bodies.get(text) ?? 0) + 1);
          resolve();
        });
      });
      req.setTimeout(15000, () => req.destroy(new Error("timeout")));
      req.on("error", (e) => {
        state.failures.push(String(e));
        resolve();
      });
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!state.stopped) await one();
  });
  state.stop = async () => {
    state.stopped = true;
    await Promise.all(loops);
    return state;
  };
  return state;
}

// The same bytes written to a new file and renamed over the old one, as a linker or an
// editor's atomic save does; `edit` changes the text.
function rewrite(file, edit = (b) => b) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, edit(fs.readFileSync(file)));
  fs.renameSync(tmp, file);
}

describe("nimbus start --watch", () => {
  test("a changed handler file restarts the handler processes with no failed request", async () => {
    const app = copyApp("examples/hello-node", (h) => {
      h.nimbus = { customHandler: { processCount: 2 } };
    });
    // Each answer takes 150 ms, so invocations are in flight on the old processes when the
    // new ones take over: they must finish there, not fail.
    const handler = path.join(app, "handler.js");
    const slow = fs.readFileSync(handler, "utf8").replace("const result = fn(JSON.parse(body));",
      "await new Promise((r) => setTimeout(r, 150));\n    const result = fn(JSON.parse(body));");
    assert.ok(slow.includes("setTimeout(r, 150)"));
    fs.writeFileSync(handler, slow);
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      const traffic = load(host.port, "/api/hello/w");
      await waitFor(() => traffic.ok >= 20, { what: "requests before the change" });
      rewrite(handler, (b) => b.toString().replace('from: "node"', 'from: "node-v2"'));
      // The new code answers once its processes are up; the old ones finish first.
      await waitFor(() => [...traffic.bodies.keys()].some((b) => b.includes("node-v2")),
        { timeoutMs: 20000, what: "an answer from the changed handler" });
      const okAtSwitch = traffic.ok;
      await waitFor(() => traffic.ok >= okAtSwitch + 20, { what: "requests after the change" });
      const done = await traffic.stop();
      assert.deepEqual(done.failures, [], "no request may fail across the reload");
      assert.ok(done.ok > 40, `served ${done.ok}`);
      const m = await waitForLog(host, /reloaded: handler\.js changed; restarted the custom handler processes in (\d+) ms/);
      assert.ok(Number(m[1]) >= 0);
      assert.doesNotMatch(host.logs, /exited unexpectedly/);
      // Only the new code answers now.
      const r = await request(host.port, "GET", "/api/hello/after");
      assert.deepEqual(r.json, { hello: "after", from: "node-v2" });
    } finally {
      await stopNimbus(host);
    }
  });

  test("a broken function.json keeps the old app serving and says what to fix", async () => {
    const app = copyApp("examples/hello-node");
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      const fnFile = path.join(app, "hello", "function.json");
      const good = fs.readFileSync(fnFile, "utf8");
      fs.writeFileSync(fnFile, '{ "bindings": [ { "type": "httpTrigger", ');
      const line = (await waitForLog(host, /\{[^\n]*"msg":"reload failed: [^\n]*\n/, 15000))[0];
      const rec = JSON.parse(line);
      assert.equal(rec.level, "Error");
      assert.equal(rec.category, "Host.Reload");
      assert.match(rec.msg, /hello[\\/]function\.json/);
      assert.match(rec.msg, /Still serving the app as it was before hello\/function\.json changed; fix the file and save it again/);
      const r = await request(host.port, "GET", "/api/hello/still");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { hello: "still", from: "node" });
      // A valid change is checked, and the log is honest that applying it needs a restart.
      fs.writeFileSync(fnFile, good.replace('"hello/{name?}"', '"hi/{name?}"'));
      const ok = JSON.parse((await waitForLog(host, /\{[^\n]*"restartNeeded":true[^\n]*\n/, 15000))[0]);
      assert.match(ok.msg, /hello\/function\.json changed and loads without errors.*stop and start nimbus/);
      assert.equal((await request(host.port, "GET", "/api/hello/x")).status, 200);
    } finally {
      await stopNimbus(host);
    }
  });

  test("a handler that no longer starts leaves the old processes serving", async () => {
    const app = copyApp("examples/hello-node");
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      fs.appendFileSync(path.join(app, "handler.js"), "\nthis is not javascript(\n");
      const rec = JSON.parse((await waitForLog(host, /\{[^\n]*"msg":"reload failed: [^\n]*\n/, 20000))[0]);
      assert.match(rec.msg, /exited during start-up.*the previous handler processes keep serving/);
      assert.deepEqual(rec.changed, ["handler.js"]);
      const r = await request(host.port, "GET", "/api/hello/old");
      assert.deepEqual(r.json, { hello: "old", from: "node" });
    } finally {
      await stopNimbus(host);
    }
  });

  test("a rebuilt native library restarts the native workers with no failed request", async () => {
    // /api/slow takes 500 ms: invocations are running and queued on the old workers when the
    // new ones take over; they must finish there, not fail.
    const app = copyApp("tests/apps/faulty-native");
    const lib = path.join(app, "bin", "libfaulty.so");
    assert.ok(fs.existsSync(lib), "tests/apps/faulty-native is built with nimbus");
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      const traffic = load(host.port, "/api/slow");
      await waitFor(() => traffic.ok >= 4, { what: "requests before the rebuild" });
      rewrite(lib);
      await waitForLog(host, /reloaded: bin\/libfaulty\.so changed; restarted the native workers in \d+ ms/, 20000);
      const okAtSwitch = traffic.ok;
      await waitFor(() => traffic.ok >= okAtSwitch + 8, { what: "requests after the rebuild" });
      const done = await traffic.stop();
      assert.deepEqual(done.failures, [], "no request may fail across the reload");
      assert.equal((await request(host.port, "GET", "/api/ok")).status, 200);
      // The replaced workers were stopped once idle, not retired as failures.
      assert.doesNotMatch(host.logs, /worker retired/);
    } finally {
      await stopNimbus(host);
    }
  });
});

describe("--log-format", () => {
  test("text: the function list and one line per invocation", async () => {
    const app = copyApp("examples/hello-node");
    const host = await startNimbus(app, ["--log-format", "text", "--no-auth"]);
    try {
      assert.match(host.logs, /\nFunctions:\n\n/);
      assert.ok(host.logs.includes(`        hello: GET,POST http://127.0.0.1:${host.port}/api/hello/{name?}\n`), host.logs);
      assert.ok(host.logs.includes(`        echo: POST http://127.0.0.1:${host.port}/api/echo\n`), host.logs);
      assert.equal((await request(host.port, "GET", "/api/hello/t")).status, 200);
      await waitForLog(host, /\n\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] Executed 'Functions\.hello' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)\n/);
      // Not a TTY: no colour codes; and no JSON records.
      assert.ok(!host.logs.includes("\x1b["));
      assert.ok(!/^\{"ts"/m.test(host.logs));
    } finally {
      await stopNimbus(host);
    }
  });

  test("json is the default when stderr is not a terminal", async () => {
    const host = await startNimbus(copyApp("examples/hello-node"), ["--no-auth"]);
    try {
      const rec = JSON.parse(/\{[^\n]*"msg":"Functions:"[^\n]*\n/.exec(host.logs)[0]);
      assert.ok(rec.functions.some((f) => f.name === "hello" && f.detail.startsWith("GET,POST http://")));
    } finally {
      await stopNimbus(host);
    }
  });

  test("an unknown format is refused naming the flag and the choices", () => {
    const r = runNimbus(["start", copyApp("examples/hello-node"), "--log-format", "bogus"]);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--log-format bogus: not a log format; use --log-format text or --log-format json/);
  });
});
