// Custom handlers as in Azure Functions: the Node and Python examples unmodified, the payload
// shape, forwarding mode, app settings, a process pool, and handlers that misbehave.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { appPath, keys, metricValue, request, startNimbus, stopNimbus, waitFor, waitForLog } from "./lib/nimbus.mjs";

for (const [example, lang] of [["examples/hello-node", "node"], ["examples/hello-python", "python"]]) {
  describe(example, () => {
    let host;
    before(async () => (host = await startNimbus(appPath(example))));
    after(() => stopNimbus(host));
    test("hello through Outputs.res", async () => {
      const r = await request(host.port, "GET", "/api/hello/grace");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { hello: "grace", from: lang });
      const q = await request(host.port, "POST", "/api/hello?name=q");
      assert.deepEqual(q.json, { hello: "q", from: lang });
    });
    test("echo through $return needs a key, and with one answers through $return", async () => {
      assert.equal((await request(host.port, "POST", "/api/echo", { body: "x" })).status, 401);
      const r = await request(host.port, "POST", "/api/echo", {
        body: "back through $return", headers: { "x-functions-key": keys(host).functionKeys.default } });
      assert.equal(r.status, 200);
      assert.equal(r.body, "back through $return");
    });
    test("handler Logs reach the host log with the invocation id", async () => {
      assert.equal((await request(host.port, "GET", "/api/hello/logs")).status, 200);
      // The handler's Logs are written by the host after it answers: wait for the line.
      await waitForLog(host, /"category":"Function\.hello\.User","msg":"greeting logs","invocationId":"[0-9a-f-]{36}"/);
    });
  });
}

describe("faulty handler pool", () => {
  let host;
  before(async () => (host = await startNimbus(appPath("tests/apps/faulty-node"), ["--no-auth"])));
  after(() => stopNimbus(host));

  test("payload is {Data:{req:{Url,Method,Query,Headers,Params,Identities,Body}}, Metadata}", async () => {
    const r = await request(host.port, "POST", "/api/payload/a/b?x=1&y=two", {
      body: "hello body", headers: { "content-type": "text/plain", "x-custom": "v" } });
    assert.equal(r.status, 200);
    const inv = r.json;
    const req = inv.Data.req;
    assert.equal(req.Method, "POST");
    assert.equal(req.Url, `http://127.0.0.1:${host.port}/api/payload/a/b?x=1&y=two`);
    assert.deepEqual(req.Query, { x: "1", y: "two" });
    assert.deepEqual(req.Params, { rest: "a/b" });
    assert.deepEqual(req.Headers["x-custom"], ["v"]);
    assert.deepEqual(req.Identities, []);
    assert.equal(req.Body, "hello body");
    assert.equal(inv.Metadata.sys.MethodName, "payload");
    assert.match(r.headers["x-invocation-id"], /^[0-9a-f-]{36}$/);
  });

  test("binary bodies arrive base64-encoded", async () => {
    const r = await request(host.port, "POST", "/api/payload", {
      body: Buffer.from([0, 1, 2, 255]), headers: { "content-type": "application/octet-stream" } });
    assert.equal(r.json.Data.req.Body, Buffer.from([0, 1, 2, 255]).toString("base64"));
  });

  test("local.settings.json Values and the FUNCTIONS_* variables reach the handler", async () => {
    const r = await request(host.port, "GET", "/api/env");
    assert.equal(r.json.GREETING, "from local.settings.json");
    assert.match(r.json.port, /^\d+$/);
    assert.match(r.json.workerId, /^[01]$/);
    assert.ok(r.json.appRoot.endsWith("faulty-node"));
  });

  test("a pool of two processes serves round-robin", async () => {
    const pids = new Set();
    for (let i = 0; i < 6; i++) pids.add((await request(host.port, "GET", "/api/ok")).body);
    assert.equal(pids.size, 2);
  });

  test("garbage answers 502, non-2xx answers 500, an invalid statusCode 502", async () => {
    const g = await request(host.port, "GET", "/api/garbage");
    assert.equal(g.status, 502);
    assert.equal(g.json.error.code, "BadWorkerResponse");
    assert.match(g.json.error.invocationId, /^[0-9a-f-]{36}$/);
    const f = await request(host.port, "GET", "/api/fail");
    assert.equal(f.status, 500);
    // The handler's own text is for the log, not for the client.
    assert.equal(f.json.error.message,
      "the function failed; the host log has its error under this invocation id");
    await waitForLog(host, new RegExp(`"msg":"handler answered HTTP 500: handler failed on purpose","invocationId":"${f.json.error.invocationId}"`));
    const b = await request(host.port, "GET", "/api/badstatus");
    assert.equal(b.status, 502);
    assert.match(b.json.error.message, /invalid statusCode/);
    assert.equal((await request(host.port, "GET", "/api/ok")).status, 200);
  });

  test("a hang answers 504 at functionTimeout; other requests keep flowing", async () => {
    const hang = request(host.port, "GET", "/api/hang");
    const ok = await request(host.port, "GET", "/api/ok");
    assert.equal(ok.status, 200);
    const r = await hang;
    assert.equal(r.status, 504);
    assert.equal(r.json.error.code, "FunctionTimeout");
  });

  test("a crashing handler answers 502; it is restarted and serves again", async () => {
    const r = await request(host.port, "GET", "/api/crash");
    assert.equal(r.status, 502);
    assert.equal(r.json.error.code, "WorkerCrashed");
    let served = 0;
    await waitFor(async () => {
      if ((await request(host.port, "GET", "/api/ok")).status === 200) served++;
      return served >= 4;
    }, { timeoutMs: 10000, what: "4 answers from /api/ok after the crash" });
    // The crashed process is replaced (the other one may have served the requests above).
    await waitFor(() => metricValue(host, /nimbus_worker_starts_total\{kind="custom_handler"\} (\d+)/).then((n) => n >= 3),
      { timeoutMs: 10000, what: "a third custom handler start" });
    assert.ok(await metricValue(host, /nimbus_worker_crashes_total\{kind="custom_handler"\} (\d+)/) >= 1);
  });
});

// nimbus.customHandler.connectionsPerProcess 1, pipelineDepth 8: past one busy connection,
// invocations of a function that answers quickly are pipelined on a connection that is
// answering. The handler reports, per socket, how many requests arrived before the earlier
// ones on it were answered.
describe("pipelining", () => {
  let host;
  before(async () => (host = await startNimbus(appPath("tests/apps/pipeline-node"))));
  after(() => stopNimbus(host));
  const stats = async (reset = false) =>
    (await request(host.port, "GET", `/api/stats${reset ? "?reset=1" : ""}`)).json;
  const burst = (n, path, tag) =>
    Promise.all(Array.from({ length: n }, (_, i) => request(host.port, "GET", `/api/${path}/${tag}-${i}`)));

  test("under load invocations share connections, and every caller gets its own answer", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await request(host.port, "GET", `/api/echo/warm-${i}`)).status, 200);
    await stats(true);
    let round = 0;
    // A burst pipelines once the function has answered quickly; on a slow machine it may take
    // a few bursts before its answers count as quick.
    await waitFor(async () => {
      round++;
      const answers = await burst(96, "echo", `r${round}`);
      answers.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, { v: `r${round}-${i}` }, "each caller gets the answer to its own request");
      });
      return (await stats()).maxQueued > 1;
    }, { timeoutMs: 30000, intervalMs: 0, what: "a request pipelined behind another" });
  });

  test("nothing waits behind a slow function's invocation, and slow ones are not pipelined", async () => {
    assert.equal((await request(host.port, "GET", "/api/slow/warm")).status, 200);  // its pace: slow
    await stats(true);
    const slow = burst(6, "slow", "s");
    const fast = burst(60, "echo", "f");
    const [s, f] = await Promise.all([slow, fast]);
    assert.ok(s.every((r, i) => r.status === 200 && r.json.v === `s-${i}`));
    assert.ok(f.every((r, i) => r.status === 200 && r.json.v === `f-${i}`));
    const st = await stats();
    assert.equal(st.slowQueuedMax, 1, "no slow invocation was sent behind another request");
    assert.equal(st.fastBehindSlow, 0, "no invocation was sent behind a slow one");
  });

  test("a hung invocation fails those pipelined behind it at its timeout, and the host keeps serving", async () => {
    for (let i = 0; i < 10; i++) await request(host.port, "GET", `/api/echo/warm-${i}`);
    // Closed loops of callers keep the process's one connection answering, so it stays
    // trusted for pipelining (an answer within the last 5 ms); the hung request is sent into
    // that stream, and the callers whose next request arrives while it is on the connection
    // are pipelined behind it. (A single burst after the hung request joined only when it
    // came within 5 ms, which a loaded machine did not always give.)
    let h, others, behind = 0;
    for (let attempt = 1; attempt <= 5 && behind === 0; attempt++) {
      let stop = false, sendHung;
      const hungSent = new Promise((res) => (sendHung = () => res(request(host.port, "GET", "/api/echo/hung?hang=1"))));
      const loop = async (k) => {
        const mine = [];
        for (let j = 0; !stop && j < 400; j++) {
          if (k === 0 && j === 5) sendHung();
          const r = await request(host.port, "GET", `/api/echo/h${attempt}-${k}-${j}`);
          mine.push({ r, v: `h${attempt}-${k}-${j}` });
        }
        return mine;
      };
      const loops = Array.from({ length: 8 }, (_, k) => loop(k));
      h = await (await hungSent);
      stop = true;
      others = (await Promise.all(loops)).flat();
      behind = others.filter(({ r }) => r.status !== 200).length;
    }
    assert.equal(h.status, 504);
    assert.equal(h.json.error.code, "FunctionTimeout");
    // Those behind it fail when its connection is closed at its timeout: 502, or 504 when
    // their own timeout (a few ms after its own) has passed by then too.
    others.forEach(({ r, v }) => {
      if (r.status === 200) return assert.equal(r.json.v, v);
      if (r.status === 504) return assert.equal(r.json.error.code, "FunctionTimeout");
      assert.equal(r.status, 502, JSON.stringify(r.json));
      assert.match(r.json.error.message, /handler connection failed before this invocation's answer/);
    });
    console.log(`# ${behind} of ${others.length} invocations were pipelined behind the hung one`);
    assert.ok(behind > 0 && behind < 8, `between 1 and pipelineDepth - 1 behind it, not ${behind}`);
    assert.equal((await request(host.port, "GET", "/api/echo/after")).json.v, "after");
  });
});

describe("forwarding mode", () => {
  let host;
  before(async () => (host = await startNimbus(appPath("tests/apps/forward-node"))));
  after(() => stopNimbus(host));
  test("the request passes through and the answer comes back verbatim", async () => {
    const r = await request(host.port, "PUT", "/proxy/x/y?z=1", { body: "raw" });
    assert.equal(r.status, 201);
    assert.equal(r.headers["x-handler"], "forward");
    assert.equal(r.json.method, "PUT");
    assert.equal(r.json.url, "/proxy/x/y?z=1");
    assert.equal(r.json.body, "raw");
    assert.match(r.json.invocationId, /^[0-9a-f-]{36}$/);
  });
  test("W3C trace context: the handler gets the caller's trace with a span of the invocation's own, and the log line says both", async () => {
    const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const r = await request(host.port, "GET", "/proxy/traced", { headers: { traceparent: caller, tracestate: "vendor=1" } });
    const m = /^00-4bf92f3577b34da6a3ce929d0e0e4736-([0-9a-f]{16})-01$/.exec(r.json.traceparent);
    assert.ok(m, `handler saw traceparent ${r.json.traceparent}`);
    assert.notEqual(m[1], "00f067aa0ba902b7", "the invocation is a span of its own");
    assert.equal(r.json.tracestate, "vendor=1");
    await waitForLog(host, new RegExp(`"invocationId":"${r.json.invocationId}"[^\\n]*"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"${m[1]}"[^\\n]*"parentSpanId":"00f067aa0ba902b7"`));
    // No (or an invalid) traceparent: a new trace.
    const fresh = await request(host.port, "GET", "/proxy/untraced", { headers: { traceparent: "garbage" } });
    assert.match(fresh.json.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.ok(!fresh.json.traceparent.includes("4bf92f3577b34da6a3ce929d0e0e4736"));
  });
});
