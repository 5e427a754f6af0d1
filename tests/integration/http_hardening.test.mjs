// The HTTP front under hostile input, each found by an outside attack: oversized chunked
// trailers, bodies sent to functions that refuse the caller, body memory, connection floods
// and descriptor exhaustion, Expect: 100-continue, and start-up refusals on open networks.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { appPath, copyApp, keys, request, runNimbus, startNimbus, stopNimbus, tempDir, waitFor } from "./lib/nimbus.mjs";

// A raw connection whose bytes so far are in `data`.
function openRaw(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    const state = { sock, data: "", closed: false };
    sock.on("data", (d) => (state.data += d.toString("latin1")));
    sock.on("close", () => (state.closed = true));
    sock.on("error", () => {});
    sock.once("connect", () => resolve(state));
    sock.once("error", reject);
  });
}

const statusOf = (raw) => Number(/^HTTP\/1\.1 (\d{3})/m.exec(raw)?.[1] ?? 0);
const finalStatus = (raw) => {
  const all = [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  return all.find((s) => s >= 200) ?? 0;
};

const chunkedWithTrailer = (target, extra, size) =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\n${extra}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n` +
  `X-Trailer: ${"a".repeat(size)}\r\n\r\n`;

test("chunked trailers of 64 KiB and more get 431 on the function and queue ports; the host lives", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    // The function port admits the request (a keyed function, the right key) and reads the
    // body; the queue port reads it before checking the signature.
    const targets = [
      [host.port, "/api/echo", `x-functions-key: ${keys(host).functionKeys.default}\r\n`],
      [host.queuePort, "/devstoreaccount1/q/messages", ""],
    ];
    for (const [port, target, extra] of targets) {
      for (const size of [65 * 1024, 70000, 256 * 1024]) {
        const c = await openRaw(port);
        c.sock.write(chunkedWithTrailer(target, extra, size));
        await waitFor(() => statusOf(c.data) !== 0 || c.closed, { timeoutMs: 5000, what: `an answer to a ${size}-byte trailer` });
        c.sock.destroy();
        assert.equal(statusOf(c.data), 431, `port ${port}, ${size}-byte trailer: ${c.data.slice(0, 300)}`);
      }
    }
    assert.equal(host.exited, null, host.logs);
    assert.equal((await request(host.port, "GET", "/api/hello/ada")).status, 200);
  } finally {
    await stopNimbus(host);
  }
});

test("a keyed function answers 401 on the headers, before a 95 MB body is sent", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    const c = await openRaw(host.port);
    c.sock.write("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99614720\r\n\r\n");
    await waitFor(() => statusOf(c.data) !== 0, { timeoutMs: 5000, what: "401 before the body" });
    assert.equal(statusOf(c.data), 401);
    c.sock.destroy();
    // Admin routes too: the master key is checked before the body.
    const a = await openRaw(host.port);
    a.sock.write("POST /admin/functions/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99614720\r\n\r\n");
    await waitFor(() => statusOf(a.data) !== 0, { timeoutMs: 5000, what: "admin 401 before the body" });
    assert.equal(statusOf(a.data), 401);
    a.sock.destroy();
  } finally {
    await stopNimbus(host);
  }
});

test("Expect: 100-continue is answered only after the key is checked", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    const no = await openRaw(host.port);
    no.sock.write("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    await waitFor(() => statusOf(no.data) !== 0, { timeoutMs: 5000, what: "an answer without a key" });
    assert.equal(statusOf(no.data), 401);
    assert.doesNotMatch(no.data, /100 Continue/);
    no.sock.destroy();
    const key = keys(host).functionKeys.default;
    const yes = await openRaw(host.port);
    yes.sock.write(`POST /api/echo HTTP/1.1\r\nHost: x\r\nx-functions-key: ${key}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    await waitFor(() => /100 Continue/.test(yes.data), { timeoutMs: 5000, what: "100 Continue with a key" });
    yes.sock.write("hello");
    await waitFor(() => finalStatus(yes.data) !== 0 && yes.data.endsWith("hello"), { timeoutMs: 5000, what: "the echo" });
    assert.equal(finalStatus(yes.data), 200);
    yes.sock.destroy();
  } finally {
    await stopNimbus(host);
  }
});

test("request bodies held at once are bounded host-wide: beyond the budget 503, then room again", async () => {
  const MiB = 1024 * 1024;
  const app = copyApp("examples/hello", (h) => {
    h.nimbus.http = { maxRequestBodySize: 8 * MiB, maxBufferedRequestBytes: 8 * MiB };
  });
  const host = await startNimbus(app);
  try {
    const key = keys(host).functionKeys.default;
    const head = (n) =>
      `POST /api/echo HTTP/1.1\r\nHost: x\r\nx-functions-key: ${key}\r\nContent-Length: ${n}\r\nExpect: 100-continue\r\n\r\n`;
    const a = await openRaw(host.port);
    a.sock.write(head(6 * MiB));
    await waitFor(() => /100 Continue/.test(a.data), { timeoutMs: 5000, what: "the first body admitted" }); // its 6 MiB are reserved now
    a.sock.write(Buffer.alloc(MiB, 97));
    const b = await openRaw(host.port);
    b.sock.write(head(6 * MiB));
    await waitFor(() => statusOf(b.data) !== 0, { timeoutMs: 5000, what: "an answer to the second body" });
    assert.equal(statusOf(b.data), 503, b.data);
    assert.match(b.data, /maxBufferedRequestBytes/);
    assert.match(b.data, /Retry-After: 1/i);
    b.sock.destroy();
    a.sock.write(Buffer.alloc(5 * MiB, 97));
    await waitFor(() => finalStatus(a.data) === 200 && a.data.length >= 6 * MiB, { timeoutMs: 15000, what: "the first echo" });
    a.sock.destroy();
    const c = await request(host.port, "POST", "/api/echo", { headers: { "x-functions-key": key }, body: Buffer.alloc(6 * MiB, 98) });
    assert.equal(c.status, 200);
    assert.equal(c.body.length, 6 * MiB);
  } finally {
    await stopNimbus(host);
  }
});

test("connections beyond nimbus.http.maxConnections get 503 at once; a freed slot serves again", async () => {
  const app = copyApp("examples/hello", (h) => (h.nimbus.http = { maxConnections: 8 }));
  const host = await startNimbus(app);
  const held = [];
  try {
    for (let i = 0; i < 8; ++i) {
      const c = await openRaw(host.port);
      c.sock.write("GET /api/hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => statusOf(c.data) === 200, { timeoutMs: 5000, what: `keep-alive connection ${i}` });
      held.push(c);
    }
    const over = await openRaw(host.port);
    over.sock.write("GET /api/hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => statusOf(over.data) !== 0, { timeoutMs: 3000, what: "an answer beyond the cap" });
    assert.equal(statusOf(over.data), 503);
    assert.match(over.data, /open connections/);
    held.pop().sock.destroy();
    await waitFor(async () => (await request(host.port, "GET", "/api/hello/x")).status === 200, { timeoutMs: 5000, what: "a freed slot" });
  } finally {
    for (const c of held) c.sock.destroy();
    await stopNimbus(host);
  }
});

// 5,000 connections against a 1,024-descriptor limit once left probes unanswered for 10 s.
for (const [label, patch] of [
  ["the default cap (derived from the descriptor limit)", () => {}],
  ["a cap above the descriptor limit (accept runs out of descriptors)", (h) => (h.nimbus.http = { maxConnections: 100000 })],
]) {
  test(`a connection flood under ulimit -n 160 with ${label}: probes are answered`, async () => {
    const app = copyApp("examples/hello", patch);
    const host = await startNimbus(app, [], { wrapper: ["bash", "-c", 'ulimit -n 160; exec "$@"', "nimbus"] });
    const flood = [];
    try {
      for (let i = 0; i < 300; ++i) flood.push(await openRaw(host.port).catch(() => null));
      const started = Date.now();
      const probe = await openRaw(host.port);
      probe.sock.write("GET /api/hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => statusOf(probe.data) !== 0, { timeoutMs: 3000, what: "an answer to the probe" });
      assert.ok([200, 503].includes(statusOf(probe.data)), probe.data);
      assert.ok(Date.now() - started < 3000);
      probe.sock.destroy();
      for (const c of flood) c?.sock.destroy();
      await waitFor(async () => (await request(host.port, "GET", "/api/hello/x").catch(() => ({}))).status === 200, { timeoutMs: 10000, what: "service after the flood" });
      assert.equal(host.exited, null);
    } finally {
      for (const c of flood) c?.sock.destroy();
      await stopNimbus(host);
    }
  });
}

test("--no-auth or the development-key queue service on a non-loopback address is refused without the flag", () => {
  const app = appPath("examples/hello");
  const noauth = runNimbus(["start", app, "--host", "0.0.0.0", "--port", "0", "--queue-port", "0", "--docs-port", "0", "--no-auth", "--data", tempDir()]);
  assert.equal(noauth.code, 2, noauth.stderr);
  assert.match(noauth.stderr, /--no-auth on 0\.0\.0\.0 .*--allow-insecure-network/);
  const queue = runNimbus(["start", app, "--host", "0.0.0.0", "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", tempDir()]);
  assert.equal(queue.code, 2, queue.stderr);
  assert.match(queue.stderr, /published development key .*--allow-insecure-network/);
  const bad = runNimbus(["start", app, "--host", "not-an-ip", "--data", tempDir()]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--host not-an-ip: not an IP address/);
});

test("a new data directory is private (0700)", async () => {
  const data = path.join(tempDir(), "fresh");
  const host = await startNimbus(appPath("examples/hello"), ["--data", data]);
  try {
    assert.equal(fs.statSync(data).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(data, "keys.json")).mode & 0o777, 0o600);
  } finally {
    await stopNimbus(host);
  }
});

// Six concurrent 95 MB bodies once took the host from 137 MB to 2,019 MB resident. With the
// default budget (256 MiB of bodies at once) two are read, the rest are told 503, and the
// peak stays far below that.
test("six concurrent 95 MB POSTs: the host's peak memory stays bounded, extra bodies get 503", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    const key = keys(host).functionKeys.default;
    const body = Buffer.alloc(95 * 1024 * 1024, 120);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        request(host.port, "POST", "/api/echo", { headers: { "x-functions-key": key }, body, timeoutMs: 60000 })
          .then((r) => ({ status: r.status, length: r.body.length }))
          .catch((e) => ({ status: 0, error: String(e) }))));
    for (const r of results) assert.ok(r.status === 200 || r.status === 503, JSON.stringify(r));
    assert.ok(results.some((r) => r.status === 200 && r.length === body.length), JSON.stringify(results));
    assert.ok(results.some((r) => r.status === 503), JSON.stringify(results));
    const status = fs.readFileSync(`/proc/${host.proc.pid}/status`, "utf8");
    const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
    assert.ok(peakMiB < 1200, `host peak RSS ${peakMiB.toFixed(0)} MiB`);
  } finally {
    await stopNimbus(host);
  }
});
