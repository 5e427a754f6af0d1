// examples/hello (native C++ in worker processes) as a user would call it, plus every bad
// input the HTTP front must answer with a JSON error.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { appPath, copyApp, keys, rawRequest, request, runNimbus, startNimbus, stopNimbus, waitForLog } from "./lib/nimbus.mjs";

let host;
before(async () => (host = await startNimbus(appPath("examples/hello"))));
after(() => stopNimbus(host));

test("anonymous hello answers with JSON", async () => {
  const r = await request(host.port, "GET", "/api/hello/ada");
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { hello: "ada" });
  assert.equal(r.headers["content-type"], "application/json");
  const q = await request(host.port, "GET", "/api/hello?name=bob");
  assert.deepEqual(q.json, { hello: "bob" });
});

test("function keys: missing or wrong key gets 401; header and ?code= work", async () => {
  const k = keys(host);
  const none = await request(host.port, "POST", "/api/echo", { body: "x" });
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, "Unauthorized");
  const wrong = await request(host.port, "POST", "/api/echo", { body: "x", headers: { "x-functions-key": "nope" } });
  assert.equal(wrong.status, 401);
  const hdr = await request(host.port, "POST", "/api/echo", {
    body: "payload", headers: { "x-functions-key": k.functionKeys.default, "content-type": "text/plain" } });
  assert.equal(hdr.status, 200);
  assert.equal(hdr.body, "payload");
  const code = await request(host.port, "POST", `/api/echo?code=${encodeURIComponent(k.masterKey)}`, { body: "m" });
  assert.equal(code.status, 200);
  // The header beats the query parameter.
  const both = await request(host.port, "POST", `/api/echo?code=${encodeURIComponent(k.masterKey)}`,
    { body: "m", headers: { "x-functions-key": "wrong" } });
  assert.equal(both.status, 401);
});

test("keys file is private and `nimbus keys list` shows it", () => {
  const st = fs.statSync(path.join(host.data, "keys.json"));
  assert.equal(st.mode & 0o777, 0o600);
  const r = runNimbus(["keys", "list", "--data", host.data]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(keys(host).masterKey.replace(/[-/\\^$*+?.()|[\]{}]/g, "\\$&")));
  const missing = runNimbus(["keys", "list", "--data", "/nonexistent/dir"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /keys\.json/);
});

test("route constraints, 404 and 405 with Allow", async () => {
  const k = { "x-functions-key": keys(host).functionKeys.default };
  assert.deepEqual((await request(host.port, "GET", "/api/items/42", { headers: k })).json, { id: 42 });
  const notInt = await request(host.port, "GET", "/api/items/abc", { headers: k });
  assert.equal(notInt.status, 404);
  assert.equal(notInt.json.error.code, "NotFound");
  const nope = await request(host.port, "GET", "/api/does-not-exist");
  assert.equal(nope.status, 404);
  const m = await request(host.port, "DELETE", "/api/hello");
  assert.equal(m.status, 405);
  assert.equal(m.headers.allow, "GET");
  assert.equal(m.json.error.code, "MethodNotAllowed");
});

test("oversized body 413, oversized headers 431, malformed HTTP 400, bad escape 400", async () => {
  const big = await rawRequest(host.port,
    "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 209715200\r\n\r\n");
  assert.match(big, /^HTTP\/1\.1 413/);
  assert.match(big, /RequestBodyTooLarge/);
  const hdrs = await rawRequest(host.port,
    `GET /api/hello HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(40000)}\r\n\r\n`);
  assert.match(hdrs, /^HTTP\/1\.1 431/);
  const junk = await rawRequest(host.port, "THIS IS NOT HTTP\r\n\r\n");
  assert.match(junk, /^HTTP\/1\.1 400/);
  assert.match(junk, /"code":"BadRequest"/);
  const esc = await request(host.port, "GET", "/api/hello/%zz");
  assert.equal(esc.status, 400);
  // The host is still up.
  assert.equal((await request(host.port, "GET", "/api/hello")).status, 200);
});

test("metrics, ping and status", async () => {
  const m = await request(host.port, "GET", "/metrics");
  assert.equal(m.status, 200);
  assert.match(m.body, /nimbus_invocations_total\{function="hello",trigger="http",status="succeeded"\} \d+/);
  assert.match(m.body, /nimbus_invocation_duration_seconds_bucket\{function="hello",le="\+Inf"\}/);
  assert.match(m.body, /nimbus_worker_starts_total\{kind="native"\} 2/);
  assert.match(m.body, /nimbus_invocations_in_flight 0/);
  assert.equal((await request(host.port, "GET", "/admin/host/ping")).status, 200);
  assert.equal((await request(host.port, "GET", "/admin/host/status")).status, 401);
  const s = await request(host.port, "GET", "/admin/host/status",
    { headers: { "x-functions-key": keys(host).masterKey } });
  assert.equal(s.status, 200);
  assert.equal(s.json.state, "Running");
  // Manual runs are admin-only too (and HTTP functions are called by their route).
  assert.equal((await request(host.port, "POST", "/admin/functions/hello", { body: "{}" })).status, 401);
  const manual = await request(host.port, "POST", "/admin/functions/hello",
    { body: JSON.stringify({ input: "x" }), headers: { "x-functions-key": keys(host).masterKey } });
  assert.equal(manual.status, 400);
  assert.match(manual.json.error.message, /HTTP-triggered; call its route instead/);
  // A host key is not enough for admin endpoints.
  const h = await request(host.port, "GET", "/admin/host/status",
    { headers: { "x-functions-key": keys(host).functionKeys.default } });
  assert.equal(h.status, 401);
});

test("every invocation logs one structured line", async () => {
  const r = await request(host.port, "GET", "/api/hello/logline");
  assert.equal(r.status, 200);
  // Both lines may be written after the answer is sent: wait for them (bounded), no fixed sleep.
  // The user's line names this invocation's id; the "invocation finished" line must carry it too.
  const [, id] = await waitForLog(host, /"msg":"greeting logline","invocationId":"([0-9a-f-]{36})"/);
  const finished = new RegExp(`^(.*"invocation finished".*"invocationId":"${id}".*)\n`, "m");
  const [, line] = await waitForLog(host, finished);  // a whole line, up to its newline
  const last = JSON.parse(line);
  assert.equal(host.logs.split("\n").filter((l) => finished.test(`${l}\n`)).length, 1, "one line per invocation");
  assert.equal(last.invocationId, id);
  assert.equal(last.function, "hello");
  assert.equal(last.trigger, "http");
  assert.equal(last.status, "succeeded");
  assert.equal(typeof last.durationUs, "number");
  assert.equal(typeof last.coldStart, "boolean");
  assert.match(last.worker, /^native-\d\/pid \d+$/);
});

test("in-process mode serves the same app", async () => {
  const dir = copyApp("examples/hello", (h) => {
    h.nimbus.native.inProcess = true;
    h.nimbus.native.library = path.join(appPath("examples/hello"), "bin/libhello.so");
  });
  const h = await startNimbus(dir, ["--no-auth"]);
  try {
    assert.match(h.logs, /AUTHORIZATION IS OFF/);
    const r = await request(h.port, "GET", "/api/hello/inproc");
    assert.deepEqual(r.json, { hello: "inproc" });
    const e = await request(h.port, "POST", "/api/echo", { body: "no key needed" });
    assert.equal(e.status, 200);
  } finally {
    await stopNimbus(h);
  }
});

test("configurable body limit", async () => {
  const dir = copyApp("examples/hello", (h) => {
    h.nimbus.http = { maxRequestBodySize: 10 };
    h.nimbus.native.library = path.join(appPath("examples/hello"), "bin/libhello.so");
  });
  const h = await startNimbus(dir, ["--no-auth"]);
  try {
    assert.equal((await request(h.port, "POST", "/api/echo", { body: "0123456789" })).status, 200);
    const r = await request(h.port, "POST", "/api/echo", { body: "0123456789x" });
    assert.equal(r.status, 413);
    assert.match(r.json.error.message, /maxRequestBodySize/);
  } finally {
    await stopNimbus(h);
  }
});
