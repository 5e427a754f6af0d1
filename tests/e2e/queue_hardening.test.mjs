// End-to-end: the attacks of the hardening issue against nimbus-queue-server and a Nimbus host,
// each as a class of inputs: replayed and misdated signatures, smuggled query parameters,
// swapped bodies, XML no reader accepts, metadata that cannot round-trip, a damaged database,
// the published key on the network; and, through queue functions, outputs that cannot be
// written, queue names the REST API cannot address, and retry limits.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { startQueueServer, serverBinary } from "./lib/queue_server.mjs";
import { request } from "./lib/queue_signer.mjs";
import { appPath, copyApp, request as httpRequest, startNimbus, stopNimbus, tempDir, BIN, waitForLog } from "../integration/lib/nimbus.mjs";
import { queueClient, b64 } from "../integration/lib/queues.mjs";

const MINUTE = 60 * 1000;
const put = (text) => `<QueueMessage><MessageText>${text}</MessageText></QueueMessage>`;
const errorCode = (r) => r.headers["x-ms-error-code"];

// Waits until `probe()` returns a truthy value or the deadline passes (then fails with `what`).
async function waitFor(what, probe, timeoutMs = 20000) {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function peekCount(port, queue) {
  const r = await request(port, { path: `/devstoreaccount1/${queue}/messages`, query: "numofmessages=32&peekonly=true" });
  assert.equal(r.status, 200, r.body);
  return (r.body.match(/<QueueMessage>/g) || []).length;
}

async function createQueue(port, name, headers = {}) {
  return request(port, { method: "PUT", path: `/devstoreaccount1/${name}`, headers });
}

describe("queue service refuses what a signature does not cover", { timeout: 120000 }, () => {
  let server;
  before(async () => { server = await startQueueServer(); });
  after(async () => { await server.stop(); server.cleanup(); });

  test("a request dated more than 15 minutes off, or not dated parseably, is refused 403 and does nothing", async () => {
    assert.equal((await createQueue(server.port, "dated")).status, 201);
    const at = (ms) => new Date(Date.now() + ms).toUTCString();
    const cases = [
      ["one hour old", { "x-ms-date": at(-60 * MINUTE) }, /is more than 15 minutes from the server time/],
      ["16 minutes old", { "x-ms-date": at(-16 * MINUTE) }, /is more than 15 minutes from the server time/],
      ["20 years old", { "x-ms-date": at(-20 * 365 * 24 * 60 * MINUTE) }, /is more than 15 minutes from the server time/],
      ["a day ahead", { "x-ms-date": at(24 * 60 * MINUTE) }, /is more than 15 minutes from the server time/],
      ["not a date at all", { "x-ms-date": "not a date at all" }, /x-ms-date &quot;not a date at all&quot; is not an RFC 1123 date/],
      ["ISO 8601 instead of RFC 1123", { "x-ms-date": new Date().toISOString() }, /is not an RFC 1123 date/],
      // An empty x-ms-date counts as absent: Date is the request's time.
      ["an old Date header and no x-ms-date", { "x-ms-date": "", date: at(-60 * MINUTE) }, /Date &quot;.*&quot; is more than 15 minutes/],
    ];
    for (const [what, headers, message] of cases) {
      const r = await request(server.port, {
        method: "POST", path: "/devstoreaccount1/dated/messages", body: put("replayed"), headers,
      });
      assert.equal(r.status, 403, `${what}: ${r.body}`);
      assert.equal(errorCode(r), "AuthenticationFailed", what);
      assert.match(r.body, message, what);
    }
    assert.equal(await peekCount(server.port, "dated"), 0, "no refused put may land");
    // Within the window either way: accepted (clocks differ a little).
    for (const skew of [-14 * MINUTE, 14 * MINUTE]) {
      const r = await request(server.port, { method: "POST", path: "/devstoreaccount1/dated/messages",
        body: put("fresh"), headers: { "x-ms-date": at(skew) } });
      assert.equal(r.status, 201, r.body);
    }
  });

  test("repeated query parameters are refused 400 naming the parameter, so a signed peek never becomes a dequeue", async () => {
    assert.equal((await createQueue(server.port, "smuggle")).status, 201);
    for (let i = 0; i < 5; i++)
      assert.equal((await request(server.port, { method: "POST", path: "/devstoreaccount1/smuggle/messages", body: put(`m${i}`) })).status, 201);
    const path = "/devstoreaccount1/smuggle/messages";
    const captured = [
      ["numofmessages=1&visibilitytimeout=30", "numofmessages=32&visibilitytimeout=1&numofmessages=1&visibilitytimeout=30", "numofmessages"],
      ["numofmessages=1&visibilitytimeout=30", "NumOfMessages=32&numofmessages=1&visibilitytimeout=30", "numofmessages"],
      ["peekonly=true&numofmessages=5", "peekonly=false&peekonly=true&numofmessages=5", "peekonly"],
      ["peekonly=true&numofmessages=5", "peekonly=true&numofmessages=5&PeekOnly=false", "PeekOnly"],
    ];
    for (const [signed, sent, name] of captured) {
      const r = await request(server.port, { path, query: signed, sentQuery: sent });
      assert.equal(r.status, 400, `${sent}: ${r.body}`);
      assert.equal(errorCode(r), "InvalidQueryParameterValue");
      assert.match(r.body, new RegExp(`<QueryParameterName>${name}</QueryParameterName>`), r.body);
      assert.match(r.body, /is given more than once; send each parameter once/);
    }
    // A value with a second '=' (left out of SDK signatures) is refused too; an empty value the
    // signature did not cover does not run: the peek answers as signed.
    let r = await request(server.port, { path, query: "peekonly=true", sentQuery: "peekonly=true&numofmessages=32=1" });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /<QueryParameterName>numofmessages<\/QueryParameterName>/);
    assert.match(r.body, /second &apos;=&apos;/);
    r = await request(server.port, { path, query: "peekonly=true", sentQuery: "peekonly=true&numofmessages=&visibilitytimeout=" });
    assert.equal(r.status, 200, r.body);
    assert.equal((r.body.match(/<QueueMessage>/g) || []).length, 1);
    assert.doesNotMatch(r.body, /PopReceipt/, "still a peek");
    assert.equal(await peekCount(server.port, "smuggle"), 5, "nothing was dequeued");
  });

  test("a body swapped under a signed Content-MD5 is refused 400 Md5Mismatch and not stored", async () => {
    assert.equal((await createQueue(server.port, "md5")).status, 201);
    const original = put("pay alice 10");
    const md5 = createHash("md5").update(original).digest("base64");
    for (const swapped of [put("pay mallo 99"), put("pay alice 11"), original.toUpperCase()]) {
      assert.equal(swapped.length, original.length);
      const r = await request(server.port, { method: "POST", path: "/devstoreaccount1/md5/messages",
        body: original, sentBody: swapped, headers: { "content-md5": md5 } });
      assert.equal(r.status, 400, r.body);
      assert.equal(errorCode(r), "Md5Mismatch");
      assert.match(r.body, /<UserSpecifiedMd5>/);
    }
    assert.equal(await peekCount(server.port, "md5"), 0);
    const r = await request(server.port, { method: "POST", path: "/devstoreaccount1/md5/messages",
      body: original, headers: { "content-md5": md5 } });
    assert.equal(r.status, 201, r.body);
  });

  test("message text XML cannot carry is refused 400 InvalidXmlDocument; everything served parses", async () => {
    assert.equal((await createQueue(server.port, "xmlchars")).status, 201);
    const bad = ["&#1;", "&#x1F;", "&#0;", "&#xFFFE;", "&#xD800;"];
    for (let c = 1; c < 0x20; c++) if (![9, 10, 13].includes(c)) bad.push(String.fromCharCode(c));
    for (const text of bad) {
      const r = await request(server.port, { method: "POST", path: "/devstoreaccount1/xmlchars/messages", body: put(`a${text}b`) });
      assert.equal(r.status, 400, `${JSON.stringify(text)}: ${r.body}`);
      assert.equal(errorCode(r), "InvalidXmlDocument");
    }
    // Raw bytes that are not UTF-8.
    for (const bytes of [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80]]) {
      const body = Buffer.concat([Buffer.from(put("a").slice(0, -30)), Buffer.from(bytes), Buffer.from("</MessageText></QueueMessage>")]);
      const r = await request(server.port, { method: "POST", path: "/devstoreaccount1/xmlchars/messages", body });
      assert.equal(r.status, 400, `${bytes}: ${r.body}`);
      assert.equal(errorCode(r), "InvalidXmlDocument");
    }
    assert.equal(await peekCount(server.port, "xmlchars"), 0);
    // What XML allows round-trips, and the listing is XML a strict reader accepts.
    const fine = "tab\there, caf\u00e9, \u20ac, \ud83d\ude00, &amp; &lt;x&gt;";
    assert.equal((await request(server.port, { method: "POST", path: "/devstoreaccount1/xmlchars/messages", body: put(fine) })).status, 201);
    const r = await request(server.port, { path: "/devstoreaccount1/xmlchars/messages", query: "peekonly=true" });
    assert.match(r.body, /<MessageText>tab\there, caf\u00e9, \u20ac, \ud83d\ude00, &amp; &lt;x&gt;<\/MessageText>/);
    assert.doesNotMatch(r.body, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|&#(x0*[0-8bcef]|x0*1[0-9a-f]|0*[0-8]|0*1[124-9]|0*2[0-9]|0*3[01]);/i);
  });

  test("non-ASCII metadata is refused 400, not stored and dropped on read", async () => {
    // Node sends each character of a header value as one byte; sign those bytes.
    const values = ["caf\u00c3\u00a9" /* UTF-8 of "café" */, "\u00ff\u00fe", "latin \u00e9"];
    for (const v of values) {
      const r = await request(server.port, { method: "PUT", path: "/devstoreaccount1/meta-bytes",
        headers: { "x-ms-meta-name": v }, encoding: "latin1" });
      assert.equal(r.status, 400, r.body);
      assert.equal(errorCode(r), "InvalidHeaderValue");
      assert.match(r.body, /x-ms-meta-name/);
    }
    assert.equal((await request(server.port, { method: "HEAD", path: "/devstoreaccount1/meta-bytes", query: "comp=metadata" })).status, 404);
    assert.equal((await createQueue(server.port, "meta-bytes", { "x-ms-meta-name": "plain" })).status, 201);
    const r = await request(server.port, { method: "PUT", path: "/devstoreaccount1/meta-bytes", query: "comp=metadata",
      headers: { "x-ms-meta-name": values[0] }, encoding: "latin1" });
    assert.equal(r.status, 400, r.body);
    const props = await request(server.port, { method: "HEAD", path: "/devstoreaccount1/meta-bytes", query: "comp=metadata" });
    assert.equal(props.headers["x-ms-meta-name"], "plain");
  });

  test("create repeated with the same metadata never answers 409: 204 however it is spelled, or refused both times", async () => {
    const same = [
      [{}, {}],
      [{ "x-ms-meta-team": "blue" }, { "x-ms-meta-team": "blue" }],
      [{ "x-ms-meta-Team": "blue" }, { "X-MS-META-team": "blue" }],
      [{ "x-ms-meta-a": "1", "x-ms-meta-b": "2" }, { "x-ms-meta-b": "2", "x-ms-meta-a": "1" }],
      [{ "x-ms-meta-note": "a, b; c=d" }, { "x-ms-meta-note": "a, b; c=d" }],
      [{ "x-ms-meta-empty": "" }, { "x-ms-meta-empty": "" }],
    ];
    let i = 0;
    for (const [first, again] of same) {
      const name = `same-meta-${i++}`;
      assert.equal((await createQueue(server.port, name, first)).status, 201);
      const r = await createQueue(server.port, name, again);
      assert.equal(r.status, 204, `${JSON.stringify(first)} then ${JSON.stringify(again)}: ${r.body}`);
    }
    // Bytes that are not UTF-8 (how Node sends "café": one byte per character) used to be
    // stored unreadably, so the repeat compared unequal and answered 409.
    for (const value of ["caf\u00e9", "\u00ff"]) {
      const name = `same-meta-${i++}`;
      const headers = { "x-ms-meta-name": value };
      const a = await request(server.port, { method: "PUT", path: `/devstoreaccount1/${name}`, headers, encoding: "latin1" });
      const b = await request(server.port, { method: "PUT", path: `/devstoreaccount1/${name}`, headers, encoding: "latin1" });
      assert.deepEqual([a.status, b.status], [400, 400], `${JSON.stringify(value)}: ${b.body}`);
    }
    const r = await createQueue(server.port, "same-meta-1", { "x-ms-meta-team": "red" });
    assert.equal(r.status, 409);
    assert.equal(errorCode(r), "QueueAlreadyExists");
  });
});

describe("queue server start-up refusals", { timeout: 120000 }, () => {
  test("a damaged database is refused at start with exit 2, naming the file and the recovery", async () => {
    const server = await startQueueServer();
    assert.equal((await createQueue(server.port, "precious")).status, 201);
    for (let i = 0; i < 300; i++)
      assert.equal((await request(server.port, { method: "POST", path: "/devstoreaccount1/precious/messages", body: put(`order ${i} ${"x".repeat(200)}`) })).status, 201);
    await server.stop();  // a clean stop checkpoints the WAL into nimbus.db
    const db = path.join(server.dataDir, "nimbus.db");
    assert.equal(fs.statSync(db).mode & 0o777, 0o600, "the database is owner-only");
    const size = fs.statSync(db).size;
    const fd = fs.openSync(db, "r+");
    fs.writeSync(fd, randomBytes(8192), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
    fs.closeSync(fd);
    const r = spawnSync(serverBinary(), ["--port", "0", "--data", server.dataDir], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`the queue database ${db.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is damaged`));
    assert.match(r.stderr, /move the damaged file aside/);
    assert.match(r.stderr, /starts with an empty queue store/);
    assert.match(r.stderr, /restore .* from a backup/);
    server.cleanup();
  });

  test("nimbus start refuses a damaged database too, naming the file and the recovery", async () => {
    const host = await startNimbus(appPath("tests/apps/queue-native"), ["--no-auth"]);
    const q = queueClient(host.queuePort).getQueueClient("kept");
    await q.create();
    for (let i = 0; i < 300; i++) await q.sendMessage(b64(`order ${i} ${"x".repeat(200)}`));
    await stopNimbus(host);
    const db = path.join(host.data, "nimbus.db");
    const size = fs.statSync(db).size;
    const fd = fs.openSync(db, "r+");
    fs.writeSync(fd, randomBytes(8192), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
    fs.closeSync(fd);
    const r = spawnSync(BIN, ["start", appPath("tests/apps/queue-native"), "--port", "0", "--queue-port", "0", "--docs-port", "0",
      "--data", host.data, "--no-auth"], { encoding: "utf8", timeout: 20000 });
    // The host's exit code for start-up failures is its own (src/server); refused is non-zero.
    assert.notEqual(r.status, 0, r.stderr);
    assert.notEqual(r.status, null, "exited by itself");
    assert.match(r.stderr, /is damaged/);
    assert.match(r.stderr, /move the damaged file aside/);
    assert.doesNotMatch(r.stderr, /Nimbus listening/);
    fs.rmSync(host.data, { recursive: true, force: true });
  });

  test("the published development key is refused on non-loopback addresses unless --allow-insecure-network", async () => {
    const dir = tempDir("nimbus-queue-insecure-");
    for (const host of ["0.0.0.0", "::", "192.0.2.1"]) {
      const r = spawnSync(serverBinary(), ["--host", host, "--port", "0", "--data", dir], { encoding: "utf8", timeout: 10000 });
      assert.equal(r.status, 2, `${host}: ${r.stderr}`);
      assert.match(r.stderr, /refusing to serve account "devstoreaccount1" with the published development key/);
      assert.match(r.stderr, /--allow-insecure-network/);
      assert.equal(r.stdout, "", "nothing listened");
    }
    // The flag passes the check (192.0.2.1 is not on this machine, so binding then fails:
    // the test never listens off loopback).
    const allowed = spawnSync(serverBinary(), ["--host", "192.0.2.1", "--port", "0", "--data", dir, "--allow-insecure-network"],
      { encoding: "utf8", timeout: 10000 });
    assert.match(allowed.stderr, /WARNING: serving account "devstoreaccount1" with the published development key/);
    assert.doesNotMatch(allowed.stderr, /refusing/);
    // An own key is fine anywhere; loopback is fine with the published key.
    const own = `acct1:${Buffer.alloc(32, 9).toString("base64")}`;
    const ownKey = spawnSync(serverBinary(), ["--host", "192.0.2.1", "--port", "0", "--data", dir, "--accounts", own],
      { encoding: "utf8", timeout: 10000 });
    assert.doesNotMatch(ownKey.stderr, /refusing|WARNING/);
    const local = await startQueueServer({ dataDir: dir, extraArgs: ["--host", "127.0.0.1"] });
    await local.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// The queue-native test app: emit (HTTP, any queue name), emit-two (two outputs), bloat (a
// queue function whose output is over 64 KiB), doomed (always throws). maxDequeueCount 3.
describe("queue bindings and triggers in a host", { timeout: 180000 }, () => {
  let host, svc;
  before(async () => {
    host = await startNimbus(appPath("tests/apps/queue-native"), ["--no-auth"]);
    svc = queueClient(host.queuePort);
  });
  after(() => stopNimbus(host));

  const queueNames = async () => {
    const names = [];
    for await (const q of svc.listQueues()) names.push(q.name);
    return names;
  };

  test("an HTTP function's output to a queue name the REST API cannot address fails 500 OutputBindingFailed naming it", async () => {
    for (const bad of ["", "A", "..", "Bad Name", "Not A Queue!", "ab", "a--b", "-abc", "x".repeat(64)]) {
      const r = await httpRequest(host.port, "POST", `/api/emit?queue=${encodeURIComponent(bad)}`, { body: "hello" });
      assert.equal(r.status, 500, `${JSON.stringify(bad)}: ${r.body}`);
      assert.match(r.body, /OutputBindingFailed/);
      assert.ok(r.body.includes(JSON.stringify(bad).slice(1, -1)), `names the queue: ${r.body}`);
      assert.match(r.body, /not a valid queue name/);
    }
    const names = await queueNames();
    for (const n of names) assert.match(n, /^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/, `queue ${n} should not exist`);
    const ok = await httpRequest(host.port, "POST", "/api/emit?queue=emit-ok", { body: "hello" });
    assert.equal(ok.status, 200, ok.body);
  });

  test("two outputs, the second over 64 KiB: 500 and neither is written", async () => {
    const r = await httpRequest(host.port, "POST", "/api/emit-two?first=two-first&second=two-second",
      { body: "y".repeat(70 * 1024) });
    assert.equal(r.status, 500, r.body);
    assert.match(r.body, /OutputBindingFailed/);
    assert.match(r.body, /two-second/);
    assert.match(r.body, /65536-byte message limit/);
    const names = await queueNames();
    assert.ok(!names.includes("two-first"), "the first output must not be written");
    assert.ok(!names.includes("two-second"));
    // Both small: both written, in one go.
    const ok = await httpRequest(host.port, "POST", "/api/emit-two?first=two-first&second=two-second", { body: "small" });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await svc.getQueueClient("two-first").getProperties()).approximateMessagesCount, 1);
    assert.equal((await svc.getQueueClient("two-second").getProperties()).approximateMessagesCount, 1);
  });

  test("a queue function whose output cannot be written fails each attempt and reaches the poison queue at maxDequeueCount", async () => {
    await svc.getQueueClient("bloat-jobs").sendMessage(b64("big one"));
    const poison = svc.getQueueClient("bloat-jobs-poison");
    await waitFor("the message in bloat-jobs-poison", async () => {
      try { return (await poison.peekMessages()).peekedMessageItems.length === 1; } catch (e) { if (e.statusCode === 404) return false; throw e; }
    }, 30000);
    // The handler's own log lines reach the host's log through its output pipe, which may be
    // read after the poison move is visible: wait for them, then check none more came.
    const attempts = () => (host.logs.match(/bloat attempt \d+ for big one/g) || []).length;
    await waitFor("three attempts in the log", async () => attempts() >= 3, 10000);
    await waitForLog(host, /output binding \\"out\\": queue output to \\"bloat-done\\" is \d+ bytes after base64 encoding, over the 65536-byte message limit/);
    await waitForLog(host, /Message has reached MaxDequeueCount of 3\. Moving message to queue 'bloat-jobs-poison'/);
    assert.equal(attempts(), 3, "exactly maxDequeueCount attempts");
    assert.equal((await svc.getQueueClient("bloat-jobs").getProperties()).approximateMessagesCount, 0);
    assert.ok(!(await queueNames()).includes("bloat-done"));
  });
});

describe("retry.maxRetryCount bounds a queue message's attempts", { timeout: 120000 }, () => {
  let host, svc;
  before(async () => {
    const app = copyApp("tests/apps/queue-native", (h) => {
      h.retry = { strategy: "fixedDelay", maxRetryCount: 1, delayInterval: "00:00:00" };
    });
    host = await startNimbus(app, ["--no-auth"]);
    svc = queueClient(host.queuePort);
  });
  after(() => stopNimbus(host));

  test("after 1 + maxRetryCount failed attempts the message moves to <queue>-poison, before maxDequeueCount", async () => {
    await svc.getQueueClient("doomed").sendMessage(b64("retry me"));
    const poison = svc.getQueueClient("doomed-poison");
    await waitFor("the message in doomed-poison", async () => {
      try { return (await poison.peekMessages()).peekedMessageItems.length === 1; } catch (e) { if (e.statusCode === 404) return false; throw e; }
    }, 30000);
    const m = (await httpRequest(host.port, "GET", "/metrics")).body
      .match(/nimbus_invocations_total\{function="doomed",trigger="queue",status="failed"\} (\d+)/);
    assert.equal(Number(m?.[1]), 2, "1 + maxRetryCount attempts, not maxDequeueCount (3)");
    await waitForLog(host, /Message has failed 2 attempts \(1 \+ retry\.maxRetryCount of 1\)\. Moving message to queue 'doomed-poison'/);
  });
});

describe("a trigger queue whose poison queue would be invalid", { timeout: 60000 }, () => {
  test("is refused with the function, its queueName and the fix", async () => {
    const queue = "q".repeat(57);  // "-poison" would make 64 characters
    const app = tempDir("nimbus-app-longq-");
    fs.cpSync(appPath("tests/apps/queue-longname"), app, { recursive: true });
    const fn = path.join(app, "longq", "function.json");
    fs.writeFileSync(fn, fs.readFileSync(fn, "utf8").replace("QUEUE_NAME", queue));
    const data = tempDir("nimbus-data-");
    const proc = spawn(BIN, ["start", app, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", data, "--no-auth"], { stdio: ["ignore", "pipe", "pipe"] });
    let logs = "";
    proc.stdout.on("data", (d) => (logs += d));
    proc.stderr.on("data", (d) => (logs += d));
    let exit = null;
    proc.on("exit", (code) => (exit = code));
    try {
      await waitFor("the refusal in the log", () => /poison queue/.test(logs) || exit !== null, 20000);
      assert.match(logs, new RegExp(`function \\\\?"longq\\\\?": queueTrigger queueName \\\\?"${queue}\\\\?" has 57 characters, so its poison queue`));
      assert.match(logs, /use a queue name of at most 56 characters/);
      if (exit !== null) assert.notEqual(exit, 0);
    } finally {
      if (exit === null) proc.kill("SIGKILL");
      fs.rmSync(app, { recursive: true, force: true });
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
