// Bad configuration: an invalid host.json stops the host with a message naming file, path and
// fix; an invalid function.json refuses only that function.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { appPath, copyApp, request, runNimbus, startNimbus, stopNimbus, tempDir } from "./lib/nimbus.mjs";

function app(files) {
  const dir = tempDir("nimbus-cfg-");
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), typeof text === "string" ? text : JSON.stringify(text));
  }
  return dir;
}

test("invalid host.json exits non-zero and names the fix", () => {
  const cases = [
    [{ "host.json": "{ \"version\": \"2.0\", }" }, /host\.json: line 1, column \d+: invalid JSON/],
    [{ "host.json": { version: "3.0" } }, /host\.json: version: "3\.0" is not supported; use "2\.0"/],
    [{ "host.json": { version: "2.0", functionTimeout: "soon" } }, /host\.json: functionTimeout: "soon" is not a TimeSpan/],
    [{ "host.json": { version: "2.0", customHandler: { description: { defaultExecutablePath: "./missing" } } } },
      /customHandler\.description\.defaultExecutablePath: "\.\/missing" does not exist/],
    [{}, /host\.json: not found/],
  ];
  for (const [files, pattern] of cases) {
    const r = runNimbus(["start", app(files), "--port", "0", "--no-auth"]);
    assert.notEqual(r.code, 0, JSON.stringify(files));
    assert.match(r.stderr, pattern);
  }
  const usage = runNimbus(["start"]);
  assert.equal(usage.code, 64);
  assert.match(usage.stderr, /start needs APP_DIR/);
  assert.match(runNimbus(["start", ".", "--port", "x"]).stderr, /--port needs a number/);
});

test("a bad function.json refuses that function only; unknown keys warn", async () => {
  const dir = copyApp("examples/hello-node", (h) => {
    h.singleton = {};
    h.colour = "blue";
  });
  fs.mkdirSync(path.join(dir, "orders"));
  fs.writeFileSync(path.join(dir, "orders/function.json"), JSON.stringify({
    bindings: [{ type: "httpTrigger", direction: "in", name: "req", methods: ["get", "FETCH"] }] }));
  fs.mkdirSync(path.join(dir, "blob"));
  fs.writeFileSync(path.join(dir, "blob/function.json"), JSON.stringify({
    bindings: [{ type: "blobThing", direction: "in", name: "b" }] }));
  const host = await startNimbus(dir, ["--no-auth"]);
  try {
    assert.match(host.logs, /orders\/function\.json: bindings\[0\]\.methods\[1\]: \\"FETCH\\" is not an HTTP method/);
    assert.match(host.logs, /blob\/function\.json: bindings\[0\]\.type: \\"blobThing\\" is not a known binding type/);
    assert.match(host.logs, /host\.json: singleton: not supported by Nimbus yet/);
    assert.match(host.logs, /host\.json: colour: unknown key/);
    assert.equal((await request(host.port, "GET", "/api/hello")).status, 200);
    assert.equal((await request(host.port, "GET", "/api/orders")).status, 404);
  } finally {
    await stopNimbus(host);
  }
});

test("a handler that never listens fails start-up with a clear message", () => {
  const dir = app({
    "host.json": { version: "2.0", customHandler: { description: { defaultExecutablePath: "sleep", arguments: ["30"] } },
      nimbus: { customHandler: { startupTimeout: "00:00:01" } } },
    "f/function.json": { bindings: [{ type: "httpTrigger", direction: "in", name: "req" }] },
  });
  const r = runNimbus(["start", dir, "--port", "0", "--no-auth"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /did not answer GET \/ on port \d+ within the startup timeout/);
});

test("a port in use is named with the fix (HTTP port and queue port)", async () => {
  const host = await startNimbus(appPath("examples/hello"), ["--no-auth"]);
  try {
    // Its own queue port (0: a free one), so only the HTTP port can be the one in use; without
    // it the second host would also want the default 10001, which anything else may hold.
    const r = runNimbus(["start", appPath("examples/hello"), "--port", String(host.port), "--queue-port", "0", "--docs-port", "0",
      "--no-auth", "--data", tempDir()]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${host.port} .*choose another port with --port`));
    // And the other way round: a free HTTP port, the first host's queue port.
    assert.ok(host.queuePort > 0, "the first host runs a queue service");
    const q = runNimbus(["start", appPath("examples/hello"), "--port", "0", "--queue-port", String(host.queuePort), "--docs-port", "0",
      "--no-auth", "--data", tempDir()]);
    assert.notEqual(q.code, 0);
    assert.match(q.stderr, new RegExp(`queue service: .*${host.queuePort}.*--queue-port`));
  } finally {
    await stopNimbus(host);
  }
});

test("a second host on the same data directory is refused at start, naming the file and the fix", async () => {
  const host = await startNimbus(appPath("examples/hello"), ["--no-auth"]);
  try {
    const r = runNimbus(["start", appPath("examples/hello"), "--port", "0", "--queue-port", "0", "--docs-port", "0",
      "--no-auth", "--data", host.data]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nimbus\.db is in use by another process .*its own --data DIR/);
    // The first host keeps serving.
    assert.equal((await request(host.port, "GET", "/api/hello/still")).status, 200);
  } finally {
    await stopNimbus(host);
  }
});
