// Developer experience of `nimbus start`: --watch reloads what a saved change affects without
// failing a request, and --log-format text is a readable console (Core Tools style).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { describe, test } from "node:test";
import { copyApp, request, runNimbus, startNimbus, stopNimbus, waitFor, waitForLog } from "./lib/nimbus.mjs";
import { drain, queueClient } from "./lib/queues.mjs";

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
      // Fixed, it is applied: the route moves.
      fs.writeFileSync(fnFile, good.replace('"hello/{name?}"', '"hi/{name?}"'));
      await waitFor(async () => (await request(host.port, "GET", "/api/hi/x")).status === 200,
        { timeoutMs: 15000, what: "the fixed function.json applied" });
      assert.equal((await request(host.port, "GET", "/api/hello/x")).status, 404);
    } finally {
      await stopNimbus(host);
    }
  });

  test("function.json added, changed, removed and a setting changed apply live with no failed request", async () => {
    const app = copyApp("examples/hello-node");
    // The handler already knows "greet" (its code is not what this test changes); "hello"
    // takes 100 ms, so invocations are in flight on the old version of the app at each swap.
    const handler = path.join(app, "handler.js");
    const code = fs.readFileSync(handler, "utf8")
      .replace("const functions = {", `const functions = {
  greet(invocation) {
    const word = process.env.GREETING || "greet";
    return { Outputs: { res: { statusCode: 200, body: word + " " + invocation.Data.req.Params.name } }, Logs: [], ReturnValue: null };
  },`)
      .replace("const result = fn(JSON.parse(body));",
        "if (name === \"hello\") await new Promise((r) => setTimeout(r, 100));\n    const result = fn(JSON.parse(body));");
    assert.ok(code.includes("greet(invocation)") && code.includes("setTimeout(r, 100)"));
    fs.writeFileSync(handler, code);
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    const status = async (p) => (await request(host.port, "GET", p)).status;
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      const traffic = load(host.port, "/api/hello/w");
      await waitFor(() => traffic.ok >= 8, { what: "requests before the change" });
      assert.equal(await status("/api/greet/a"), 404);
      // Added: the new route answers.
      const fnFile = path.join(app, "greet", "function.json");
      fs.mkdirSync(path.dirname(fnFile));
      const spec = (route) => JSON.stringify({ bindings: [
        { type: "httpTrigger", direction: "in", name: "req", methods: ["get"], authLevel: "anonymous", route },
        { type: "http", direction: "out", name: "res" }] });
      fs.writeFileSync(fnFile, spec("greet/{name}"));
      await waitFor(async () => (await status("/api/greet/a")) === 200,
        { timeoutMs: 15000, what: "the added function's route" });
      assert.equal((await request(host.port, "GET", "/api/greet/a")).body, "greet a");
      const added = JSON.parse((await waitForLog(host, /\{[^\n]*"msg":"reloaded: greet\/function\.json changed; applied added greet[^\n]*\n/))[0]);
      assert.deepEqual(added.added, ["greet"]);
      // Changed: the old route is gone, the new one answers.
      fs.writeFileSync(fnFile, spec("salute/{name}"));
      await waitFor(async () => (await status("/api/salute/b")) === 200,
        { timeoutMs: 15000, what: "the changed route" });
      assert.equal(await status("/api/greet/a"), 404);
      // Nothing so far restarted the handler: the swaps were of the app's version.
      assert.doesNotMatch(host.logs, /restarted the custom handler processes/);
      // A setting: the handler's processes restart with it (new ones first).
      fs.writeFileSync(path.join(app, "local.settings.json"),
        JSON.stringify({ IsEncrypted: false, Values: { GREETING: "hey" } }));
      await waitFor(async () => (await request(host.port, "GET", "/api/salute/c")).body === "hey c",
        { timeoutMs: 20000, what: "the changed setting in the handler" });
      await waitForLog(host, /reloaded: local\.settings\.json changed; applied settings; restarted the custom handler processes/);
      // Removed.
      fs.rmSync(path.dirname(fnFile), { recursive: true });
      await waitFor(async () => (await status("/api/salute/b")) === 404,
        { timeoutMs: 15000, what: "the removed function's route gone" });
      await waitForLog(host, /reloaded: greet\/function\.json changed; applied removed greet/);
      const okAtEnd = traffic.ok;
      await waitFor(() => traffic.ok >= okAtEnd + 4, { what: "requests after the changes" });
      const done = await traffic.stop();
      assert.deepEqual(done.failures, [], "no request on the unchanged route may fail");
    } finally {
      await stopNimbus(host);
    }
  });

  test("an added queue function gets a listener, a removed one stops; fixed settings say restart", async () => {
    // queue-node without its "work" function (queue "jobs", output to "jobs-done").
    const app = copyApp("tests/apps/queue-node");
    const workFile = path.join(app, "work", "function.json");
    const work = fs.readFileSync(workFile, "utf8");
    fs.rmSync(path.dirname(workFile), { recursive: true });
    const host = await startNimbus(app, ["--watch", "--no-auth"]);
    try {
      await waitForLog(host, /--watch: reloading on saved changes/);
      assert.doesNotMatch(host.logs, /"function":"work"/);
      fs.mkdirSync(path.dirname(workFile));
      fs.writeFileSync(workFile, work);
      await waitForLog(host, /\{[^\n]*"msg":"listening"[^\n]*"function":"work"[^\n]*"queue":"jobs"/, 15000);
      const svc = queueClient(host.queuePort);
      await svc.getQueueClient("jobs").sendMessage("live");
      const out = await drain(svc.getQueueClient("jobs-done"), 1, 15000);
      assert.equal(out.length, 1, "the added function processed the message");
      assert.equal(JSON.parse(out[0]).item, "live");
      // A queue option the running listeners were built with needs a restart: named, and the
      // old value kept (so the function keeps running as it did).
      const hostFile = path.join(app, "host.json");
      const h = JSON.parse(fs.readFileSync(hostFile, "utf8"));
      h.extensions.queues.maxDequeueCount = 7;
      fs.writeFileSync(hostFile, JSON.stringify(h));
      const warn = JSON.parse((await waitForLog(host, /\{[^\n]*"msg":"restart needed for host\.json extensions\.queues[^\n]*\n/, 15000))[0]);
      assert.equal(warn.restartNeeded, true);
      assert.equal(warn.level, "Warning");
      // Timer functions run on a trigger built at start: an added one is named, not started.
      fs.mkdirSync(path.join(app, "tick"));
      fs.writeFileSync(path.join(app, "tick", "function.json"), JSON.stringify({ bindings: [
        { type: "timerTrigger", direction: "in", name: "t", schedule: "*/5 * * * * *" }] }));
      await waitForLog(host, /restart needed for function \\"tick\\": timer-triggered functions are started once, at start/, 15000);
      // Removed: its listener stops.
      fs.rmSync(path.dirname(workFile), { recursive: true });
      await waitForLog(host, /\{[^\n]*"msg":"stopped listening"[^\n]*"function":"work"/, 15000);
      await waitForLog(host, /reloaded: work\/function\.json changed; applied removed work/);
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
