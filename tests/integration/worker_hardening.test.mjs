// Hardening of the worker side against hostile user code and hostile requests: bytes that are
// not UTF-8, forged log output, children that outlive their worker, oversized or mis-framed
// handler answers, and what a failed call tells the client.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { appPath, request, startNimbus, stopNimbus, tempDir, waitFor } from "./lib/nimbus.mjs";

// Sends raw bytes and returns the raw bytes answered until the server closes.
function rawBytes(port, bytes, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    const chunks = [];
    sock.setTimeout(timeoutMs, () => sock.destroy());
    sock.on("data", (d) => chunks.push(d));
    sock.on("close", () => resolve(Buffer.concat(chunks)));
    sock.on("error", (e) => (chunks.length ? resolve(Buffer.concat(chunks)) : reject(e)));
    sock.write(bytes);
  });
}

// Splits raw HTTP/1.1 answers (Content-Length framed) into {status, headers, body} records.
function parseAnswers(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf("\r\n\r\n", pos);
    if (end < 0) break;
    const head = buf.subarray(pos, end).toString("latin1").split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const len = Number(headers["content-length"] || 0);
    out.push({ status, headers, body: buf.subarray(end + 4, end + 4 + len) });
    pos = end + 4 + len;
  }
  return out;
}

// Records the host's raw log bytes from now on (its stdout and stderr).
function recordBytes(host) {
  const chunks = [];
  host.proc.stdout.on("data", (d) => chunks.push(Buffer.from(d)));
  host.proc.stderr.on("data", (d) => chunks.push(Buffer.from(d)));
  return () => Buffer.concat(chunks);
}

// Every log line is a JSON object and the whole log is valid UTF-8.
function records(bytes) {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// Logs are written by the host as it goes; wait for a record that matches.
async function logRecord(host, bytes, match, what) {
  return waitFor(() => records(bytes()).find(match), { what, timeoutMs: 10000 });
}

// True while `pid` is the `sleep 283` a test function started (not reaped, not a zombie).
function sleeperAlive(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "latin1") === "sleep\x00283\x00";
  } catch {
    return false;
  }
}

async function pidFrom(file) {
  return waitFor(() => {
    try {
      return Number(fs.readFileSync(file, "utf8").trim()) || null;
    } catch {
      return null;
    }
  }, { what: `a pid in ${file}` });
}

const killLeftovers = (pids) => pids.forEach((p) => sleeperAlive(p) && process.kill(p, "SIGKILL"));

// Has the function fork `sleep 283` (after setsid when `setsid` is "1") and then crash; waits
// for the child to be gone. Its pid goes into `started`, which the suite kills at the end.
async function forkCrashEndsChild(host, setsid, started) {
  const file = path.join(tempDir(), "pid");
  const r = await request(host.port, "GET", `/api/forkcrash?pidfile=${encodeURIComponent(file)}&setsid=${setsid}`);
  assert.equal(r.status, 502);
  const pid = await pidFrom(file);
  started.push(pid);
  await waitFor(() => !sleeperAlive(pid), { what: `sleep 283 (pid ${pid}) to end`, timeoutMs: 5000 });
}

// Starts the app, has its function fork `sleep 283` twice (in the worker's process group, and
// after setsid), stops the host with SIGTERM, and waits for both children to be gone. Their
// pids go into `started`, which the suite kills at the end whatever happened.
async function sigtermEndsForkedChildren(app, started) {
  const h = await startNimbus(appPath(app), ["--no-auth"]);
  const pids = [];
  try {
    for (const setsid of ["0", "1"]) {
      const file = path.join(tempDir(), "pid");
      const r = await request(h.port, "GET", `/api/fork?pidfile=${encodeURIComponent(file)}&setsid=${setsid}`);
      assert.equal(r.status, 200);
      pids.push(Number(r.body));
    }
    started.push(...pids);
    for (const pid of pids)
      await waitFor(() => sleeperAlive(pid), { what: `sleep 283 (pid ${pid}) running while the host does` });
  } finally {
    await stopNimbus(h);
  }
  assert.equal(h.exited.code, 0);
  for (const pid of pids)
    await waitFor(() => !sleeperAlive(pid), { what: `sleep 283 (pid ${pid}) to end`, timeoutMs: 3000 });
}

describe("native worker", () => {
  let host, bytes;
  const started = [];
  before(async () => {
    host = await startNimbus(appPath("tests/apps/worker-native"), ["--no-auth"]);
    bytes = recordBytes(host);
  });
  after(async () => {
    await stopNimbus(host);
    killLeftovers(started);
  });
  const workerPid = async () => (await request(host.port, "GET", "/api/ok")).body;

  test("route parameters, query values and headers that are not UTF-8 reach the function byte for byte", async () => {
    const pid = await workerPid();
    const cases = [
      ["%FF", "%C3%28", Buffer.from([0xff])],
      ["%C0%AF", "%ED%A0%80", Buffer.from([0xc3, 0x28])],
      ["%F8%88%80%80%80", "%80", Buffer.from([0xed, 0xa0, 0x80, 0xfe])],
    ];
    const decode = (s) => Buffer.from(s.replace(/%([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1");
    // Pipelined on one connection: the requests behind a hostile one are answered too.
    const reqs = cases.map(([p, q, h]) => Buffer.concat([
      Buffer.from(`GET /api/echo/${p}?q=${q} HTTP/1.1\r\nHost: x\r\nX-Raw: `), h, Buffer.from("\r\n\r\n")]));
    reqs.push(Buffer.from("GET /api/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const answers = parseAnswers(await rawBytes(host.port, Buffer.concat(reqs)));
    assert.equal(answers.length, reqs.length);
    cases.forEach(([p, q, h], i) => {
      assert.equal(answers[i].status, 200, answers[i].body.toString());
      assert.deepEqual(answers[i].body, Buffer.concat([decode(p), Buffer.from("|"), decode(q), Buffer.from("|"), h]));
    });
    assert.equal(answers.at(-1).status, 200);
    assert.equal(await workerPid(), pid, "the worker was not replaced");
  });

  test("a Latin-1 log line and a binary queue message keep the worker; the host log stays UTF-8 JSON", async () => {
    const pid = await workerPid();
    const latin1 = Buffer.from("caf\xe9 \xff\xfe end", "latin1");
    const r = await request(host.port, "POST", "/api/logbody", { body: latin1 });
    assert.equal(r.status, 200);
    const rec = await logRecord(host, bytes, (l) => l.msg === "body: caf\\xe9 \\xff\\xfe end", "the Latin-1 log line");
    assert.equal(rec.category, "Function.logbody.User");
    const q = await request(host.port, "POST", "/api/enqueue?queue=binary-out", { body: Buffer.from([0xff, 0x00, 0xc3, 0x28]) });
    assert.notEqual(q.status, 502, q.body);
    assert.equal(await workerPid(), pid, "the worker was not replaced");
  });

  test("stdout and stderr become escaped Worker.Output records, never host records", async () => {
    const r = await request(host.port, "GET", "/api/print");
    assert.equal(r.status, 200);
    const out = await logRecord(host, bytes, (l) => typeof l.msg === "string" && l.msg.includes("forged-stdout"), "stdout line");
    const err = await logRecord(host, bytes, (l) => typeof l.msg === "string" && l.msg.includes("forged-stderr"), "stderr line");
    assert.equal(out.category, "Worker.Output");
    assert.equal(out.stream, "stdout");
    assert.match(out.worker, /^native-0\/pid \d+$/);
    assert.equal(out.msg, '\x1b[2J{"level":"Critical","msg":"forged-stdout"}');
    assert.equal(err.stream, "stderr");
    assert.equal(err.msg, '\x1b[31m{"level":"Critical","msg":"forged-stderr"}');
    const long = await logRecord(host, bytes, (l) => l.truncated === true, "the truncated long line");
    assert.equal(long.msg, "L".repeat(16384));
    const all = records(bytes());
    assert.ok(!all.some((l) => l.msg === "forged-stdout" || l.msg === "forged-stderr" || l.level === "Critical"));
    assert.ok(!bytes().includes(0x1b), "no raw ESC byte in the host's output");
  });

  for (const setsid of ["0", "1"]) {
    test(`a child forked before a crash dies with the worker (setsid=${setsid})`, () =>
      forkCrashEndsChild(host, setsid, started));
  }

  test("SIGTERM of the host ends the children its workers forked, in their group or not", () =>
    sigtermEndsForkedChildren("tests/apps/worker-native", started));
});

describe("custom handler", () => {
  let host, bytes;
  const started = [];
  before(async () => {
    host = await startNimbus(appPath("tests/apps/worker-node"), ["--no-auth"]);
    bytes = recordBytes(host);
  });
  after(async () => {
    await stopNimbus(host);
    killLeftovers(started);
  });
  const alive = async () => assert.equal((await request(host.port, "GET", "/api/ok")).status, 200);

  test("an answer header too large to hold is a 502 for that invocation only", async () => {
    for (const size of [33000, 65534, 70000, 1000000]) {
      const r = await request(host.port, "GET", `/api/bigheader?size=${size}`);
      assert.equal(r.status, 502, `header of ${size} bytes`);
      assert.equal(r.json.error.code, "BadWorkerResponse");
      assert.match(r.json.error.message, /header section exceeds the limit/);
      await alive();
    }
    assert.equal((await request(host.port, "GET", "/api/bigheader?size=8000")).status, 200);
  });

  test("chunked trailers too large to hold are a 502 for that invocation only", async () => {
    for (const size of [65534, 70000, 300000]) {
      const r = await request(host.port, "GET", `/api/bigtrailer?size=${size}`);
      assert.equal(r.status, 502, `trailer of ${size} bytes`);
      assert.equal(r.json.error.code, "BadWorkerResponse");
      await alive();
    }
    assert.equal((await request(host.port, "GET", "/api/bigtrailer?size=100")).status, 200);
  });

  test("an answer over the body limit names the limit, never 'Success'", async () => {
    const r = await request(host.port, "GET", "/api/bigbody?size=200000");
    assert.equal(r.status, 502);
    assert.equal(r.json.error.message, "handler answer exceeds the limit of 100000 bytes");
    await alive();
  });

  test("a failed call keeps the handler's text out of the answer and in the log", async () => {
    const r = await request(host.port, "GET", "/api/fail");
    assert.equal(r.status, 500);
    assert.equal(r.json.error.code, "FunctionFailed");
    assert.doesNotMatch(r.body, /secret|handler\.js/);
    const rec = await logRecord(host, bytes, (l) => l.invocationId === r.json.error.invocationId &&
      typeof l.msg === "string" && l.msg.includes("secret stack trace"), "the failure detail");
    assert.equal(rec.category, "Function.fail");
  });

  test("a statusCode that would wrap to 200 is a 502 naming statusCode", async () => {
    const r = await request(host.port, "GET", "/api/wrapstatus");
    assert.equal(r.status, 502);
    assert.equal(r.json.error.code, "BadWorkerResponse");
    assert.match(r.json.error.message, /statusCode/);
  });

  test("request bytes that are not UTF-8 reach the handler as valid JSON (U+FFFD)", async () => {
    const req = Buffer.concat([Buffer.from("GET /api/echo/%FF?q=%C3%28 HTTP/1.1\r\nHost: x\r\nX-Raw: "),
      Buffer.from([0xff, 0xfe]), Buffer.from("\r\nConnection: close\r\n\r\n")]);
    const [a] = parseAnswers(await rawBytes(host.port, req));
    assert.equal(a.status, 200, a.body.toString());
    const data = JSON.parse(a.body.toString("utf8"));
    assert.equal(data.Params.p, "\ufffd");
    assert.equal(data.Query.q, "\ufffd(");
    assert.deepEqual(data.Headers["x-raw"] || data.Headers["X-Raw"], ["\ufffd\ufffd"]);
  });

  test("handler stdout and stderr become escaped Worker.Output records", async () => {
    assert.equal((await request(host.port, "GET", "/api/print")).status, 200);
    const out = await logRecord(host, bytes, (l) => typeof l.msg === "string" && l.msg.includes("forged-stdout"), "stdout line");
    const err = await logRecord(host, bytes, (l) => typeof l.msg === "string" && l.msg.includes("forged-stderr"), "stderr line");
    assert.equal(out.category, "Worker.Output");
    assert.match(out.worker, /^handler-0\/pid \d+$/);
    assert.equal(out.stream, "stdout");
    assert.equal(err.stream, "stderr");
    assert.ok(!records(bytes()).some((l) => l.level === "Critical"));
    assert.ok(!bytes().includes(0x1b), "no raw ESC byte in the host's output");
  });

  for (const setsid of ["0", "1"]) {
    test(`a child spawned before the handler crashes dies with it (detached=${setsid})`, async () => {
      await forkCrashEndsChild(host, setsid, started);
      await waitFor(async () => (await request(host.port, "GET", "/api/ok")).status === 200, { what: "the handler back" });
    });
  }

  test("SIGTERM of the host ends what its handler spawned, detached or not", () =>
    sigtermEndsForkedChildren("tests/apps/worker-node", started));
});

describe("forwarding mode", () => {
  let host;
  before(async () => (host = await startNimbus(appPath("tests/apps/forward-node"))));
  after(() => stopNimbus(host));

  // The final answer a raw request got (a 100 Continue from the host itself is allowed first).
  const finalAnswer = (buf) => parseAnswers(buf).filter((a) => a.status >= 200).at(-1);
  const own = async (name) => {
    const r = await request(host.port, "GET", `/proxy/${name}`);
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.url, `/proxy/${name}`, "each caller gets its own answer");
  };

  test("Expect: 100-continue is not forwarded and every caller gets its own answer", async () => {
    for (let i = 0; i < 20; i++) {
      const a = finalAnswer(await rawBytes(host.port, Buffer.from(
        `POST /proxy/a${i} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nAAAAA`)));
      assert.equal(a.status, 201, a.body.toString());
      const body = JSON.parse(a.body.toString());
      assert.equal(body.url, `/proxy/a${i}`);
      assert.equal(body.body, "AAAAA");
      assert.equal(body.expect, null);
      await own(`b${i}`);
      await own(`c${i}`);
    }
  });

  test("an interim 103 answer is skipped, not taken for the answer", async () => {
    await own("early-hints");
    await own("after-hints");
  });

  test("bytes after a complete answer retire the connection instead of answering the next caller", async () => {
    const r = await request(host.port, "GET", "/proxy/two-answers");
    assert.equal(r.status, 200);
    assert.equal(r.body, "first");
    for (let i = 0; i < 5; i++) await own(`next${i}`);
  });

  test("a HEAD answer has no body whatever its Content-Length says", async () => {
    const r = await request(host.port, "HEAD", "/proxy/head", { timeoutMs: 3000 });
    assert.equal(r.status, 201);
    await own("after-head");
  });

  test("a request the handler received and dropped is not sent again", async () => {
    await own("warm");  // leaves an idle keep-alive connection to reuse
    const before = (await request(host.port, "GET", "/proxy/drops")).json.drops;
    const r = await request(host.port, "GET", "/proxy/drop");
    assert.equal(r.status, 502);
    assert.doesNotMatch(r.body, /Success/);
    const drops = (await request(host.port, "GET", "/proxy/drops")).json.drops;
    assert.equal(drops, before + 1, "the handler saw the request once");
  });
});
