// Requests the function port refuses without running a function are counted by status on
// /metrics and logged with method, path, status and the answer's error code: an unknown route
// (404), a missing key (401), a wrong method (405), an oversized head (431).
import { test } from "node:test";
import assert from "node:assert/strict";
import { appPath, keys, rawRequest, request, startNimbus, stopNimbus, waitForLog } from "./lib/nimbus.mjs";

test("refused requests are counted by status and logged with what was refused", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    assert.equal((await request(host.port, "GET", "/api/nope")).status, 404);
    assert.equal((await request(host.port, "POST", "/api/echo", { body: "x" })).status, 401);
    assert.equal((await request(host.port, "DELETE", "/api/hello/ada")).status, 405);
    const big = await rawRequest(host.port, `GET /api/hello/ada HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(40000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431/);
    await waitForLog(host, /"msg":"request refused"[^\n]*"status":404[^\n]*"method":"GET","path":"\/api\/nope"[^\n]*"code":"NotFound"/);
    await waitForLog(host, /"msg":"request refused"[^\n]*"status":401[^\n]*"path":"\/api\/echo"/);
    await waitForLog(host, /"msg":"request refused"[^\n]*"status":431/);
    const m = (await request(host.port, "GET", "/metrics", { headers: { "x-functions-key": keys(host).masterKey } })).body;
    for (const status of [401, 404, 405, 431])
      assert.match(m, new RegExp(`nimbus_http_refused_total\\{status="${status}"\\} [1-9]`), `status ${status}`);
    // Served requests are not refusals.
    assert.equal((await request(host.port, "GET", "/api/hello/ada")).status, 200);
    assert.doesNotMatch(m, /nimbus_http_refused_total\{status="200"\}/);
  } finally {
    await stopNimbus(host);
  }
});
