// CORS on the function port, as a browser exercises it: preflights answered before routing
// (the route allows only GET and POST), actual responses declaring the origin, other origins
// refused; configured by --cors and by local.settings.json Host.CORS / Host.CORSCredentials;
// a bad origin list stops the start with the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { copyApp, appPath, request, runNimbus, startNimbus, stopNimbus } from "./lib/nimbus.mjs";

const preflight = (port, origin, method = "PUT") =>
  request(port, "OPTIONS", "/api/hello/ada", {
    headers: { Origin: origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "content-type" },
  });

test("--cors: preflight and actual requests from an allowed origin; others refused", async () => {
  const host = await startNimbus(appPath("examples/hello-node"), ["--cors", "http://localhost:3000, https://app.example"]);
  try {
    const ok = await preflight(host.port, "http://localhost:3000");
    assert.equal(ok.status, 204);
    assert.equal(ok.headers["access-control-allow-origin"], "http://localhost:3000");
    assert.equal(ok.headers["access-control-allow-methods"], "PUT");
    assert.equal(ok.headers["access-control-allow-headers"], "content-type");
    assert.equal(ok.headers["vary"], "Origin");
    const evil = await preflight(host.port, "http://evil.example");
    assert.equal(evil.status, 403);
    assert.equal(evil.headers["access-control-allow-origin"], undefined);
    const get = await request(host.port, "GET", "/api/hello/ada", { headers: { Origin: "https://APP.example" } });
    assert.equal(get.status, 200);
    assert.equal(get.headers["access-control-allow-origin"], "https://APP.example");
    const plain = await request(host.port, "GET", "/api/hello/ada");
    assert.equal(plain.headers["access-control-allow-origin"], undefined, "no Origin, no CORS headers");
    // Refusals the browser must be able to read carry the headers too (here a 404).
    const missing = await request(host.port, "GET", "/api/nope", { headers: { Origin: "http://localhost:3000" } });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers["access-control-allow-origin"], "http://localhost:3000");
  } finally {
    await stopNimbus(host);
  }
});

test("Host.CORS \"*\" with Host.CORSCredentials echoes the origin and allows credentials", async () => {
  const app = copyApp("examples/hello-node");
  fs.writeFileSync(path.join(app, "local.settings.json"),
    JSON.stringify({ IsEncrypted: false, Values: {}, Host: { CORS: "*", CORSCredentials: true } }));
  const host = await startNimbus(app);
  try {
    const r = await request(host.port, "GET", "/api/hello/ada", { headers: { Origin: "http://x.example" } });
    assert.equal(r.headers["access-control-allow-origin"], "http://x.example");
    assert.equal(r.headers["access-control-allow-credentials"], "true");
  } finally {
    await stopNimbus(host);
  }
});

test("without CORS configured, a preflight is not answered as one", async () => {
  const host = await startNimbus(appPath("examples/hello-node"));
  try {
    const r = await preflight(host.port, "http://localhost:3000");
    assert.equal(r.headers["access-control-allow-origin"], undefined);
    assert.notEqual(r.status, 204);
  } finally {
    await stopNimbus(host);
  }
});

test("a bad origin list stops the start, naming it and the fix", () => {
  const r = runNimbus(["start", appPath("examples/hello-node"), "--port", "0", "--cors", "localhost:3000"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--cors: "localhost:3000" is not an origin; write scheme:\/\/host\[:port\]/);
});
