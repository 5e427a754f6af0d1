// Moderation input bindings end to end: real hosts, a custom handler (tests/apps/moderation-node)
// and a native app (tests/apps/moderation-native), with the Gemini test double
// (tools/gemini-double) on an ephemeral loopback port as the provider. The host computes the
// verdict before each call: approved and rejected through the double, fail-open when the double
// fails, the breaker opening and closing again, the re-review backlog, the local rules when no
// key is set, and load errors for a bad binding.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, copyApp, request, startNimbus, stopNimbus, waitFor, waitForLog } from "./lib/nimbus.mjs";
import { queueClient } from "./lib/queues.mjs";

// The key the hosts are given: distinctive, so the test can prove it never reaches a log.
const API_KEY = "test-key-never-logged-5f3a9c";
// A host started by a developer with a real key must not send test traffic to Gemini.
delete process.env.GEMINI_API_KEY;
delete process.env.GEMINI_ENDPOINT;

let double, doublePort;
before(async () => {
  double = spawn(process.execPath, [path.join(ROOT, "tools/gemini-double/server.mjs"), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  doublePort = await new Promise((resolve, reject) => {
    let out = "";
    double.stdout.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    double.on("exit", (c) => reject(new Error(`the Gemini double exited with ${c}: ${out}`)));
  });
});
after(() => double?.kill("SIGTERM"));

const setFaults = (spec) =>
  request(doublePort, "POST", "/_double/faults", {
    headers: { "content-type": "application/json" }, body: JSON.stringify({ spec }) });

// A copy of an app with these local.settings.json Values.
function appWith(rel, values) {
  const dir = copyApp(rel);
  fs.writeFileSync(path.join(dir, "local.settings.json"), JSON.stringify({ IsEncrypted: false, Values: values }));
  return dir;
}
const geminiValues = () => ({ GEMINI_API_KEY: API_KEY, GEMINI_ENDPOINT: `http://127.0.0.1:${doublePort}` });

const post = (host, route, body) =>
  request(host.port, "POST", `/api/${route}`, { headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
async function moderate(host, text) {
  const r = await post(host, "moderate", { text });
  assert.equal(r.status, 200, r.body);
  return r.json;
}
async function metrics(host) {
  return (await request(host.port, "GET", "/metrics")).body;
}
function metric(text, name) {
  const m = text.match(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} (\\S+)$`, "m"));
  return m ? Number(m[1]) : undefined;
}
// Waits for a message on `queue` whose JSON has this id; returns it parsed.
async function verdictOn(host, queue, id, timeoutMs = 15000) {
  const q = queueClient(host.queuePort).getQueueClient(queue);
  const seen = [];
  return waitFor(async () => {
    let r;
    try {
      r = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    } catch (e) {
      if (e.statusCode !== 404) throw e;  // created by its first message
      return null;
    }
    for (const m of r.receivedMessageItems) seen.push(JSON.parse(m.messageText));
    return seen.find((v) => v.id === id);
  }, { timeoutMs, intervalMs: 50, what: `a verdict for ${id} on ${queue}` });
}

describe("custom handler with the Gemini double", () => {
  let host;
  before(async () => {
    await setFaults("");
    host = await startNimbus(appWith("tests/apps/moderation-node", geminiValues()), ["--no-auth"]);
  });
  after(() => stopNimbus(host));

  test("verdicts come from the provider before the call: approved and rejected", async () => {
    const ok = await moderate(host, "a calm day at the lake");
    assert.equal(ok.status, "approved");
    assert.equal(ok.provider, "gemini");
    assert.equal(ok.failOpen, false);
    assert.equal(ok.attempts, 1);
    assert.ok(Array.isArray(ok.categories));
    assert.equal(typeof ok.latencyMs, "number");
    assert.equal(typeof ok.reason, "string");
    const bad = await moderate(host, "I hate it");
    assert.equal(bad.status, "rejected");
    assert.equal(bad.failOpen, false);
    const health = (await request(host.port, "GET", "/api/health")).json;
    assert.deepEqual(health, { provider: "gemini", breaker: "closed", healthy: true });
    assert.match(host.logs, /moderation inputs use Gemini/);
  });

  test("a text expression with no value answers 400 naming the binding; the function does not run", async () => {
    const r = await post(host, "moderate", { other: "no text here" });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "BadRequest");
    assert.match(r.json.error.message, /input binding "verdict" \(moderation\): text "\{text\}"/);
    await waitForLog(host, /input binding \\"verdict\\" \(moderation\): text \\"\{text\}\\": binding expression \{text\} has no value/);
  });

  test("a queue-triggered function gets the verdict of a JSON message's property", async () => {
    assert.equal((await post(host, "submit", { id: "q1", text: "I hate it" })).status, 202);
    const v = await verdictOn(host, "verdicts", "q1");
    assert.equal(v.verdict.status, "rejected");
    assert.equal(v.verdict.provider, "gemini");
  });

  test("provider failures fail open; the breaker opens, short-circuits, and closes after recovery", async () => {
    await setFaults("status=500");
    const secret = "zebra-content-7781";  // must never reach the host's log
    const failed = await moderate(host, secret);
    assert.equal(failed.status, "pending-review");
    assert.equal(failed.failOpen, true);
    assert.match(failed.reason, /fail-open/);
    const warning = await waitForLog(host, /^.*"category":"Host\.Moderation","msg":"moderation failed open[^\n]*$/m);
    assert.match(warning[0], /"level":"Warning"/i);
    assert.match(warning[0], /"function":"moderate"/);
    assert.match(warning[0], /"binding":"verdict"/);
    assert.match(warning[0], /"reason":"fail-open: server-error/);

    // Fail-open in the queue function: the app sends it to the re-review queue, whose depth the
    // host reports.
    assert.equal((await post(host, "submit", { id: "q2", text: "anything" })).status, 202);
    const v = await verdictOn(host, "verdicts", "q2");
    assert.equal(v.verdict.failOpen, true);
    await waitFor(async () => metric(await metrics(host), "nimbus_moderation_rereview_backlog") >= 1,
      { timeoutMs: 10000, what: "the re-review backlog to count the fail-open message" });

    // Consecutive failures open the breaker (5 failed attempts; 3 per moderation).
    await waitFor(async () => {
      await moderate(host, "more");
      return metric(await metrics(host), "nimbus_moderation_breaker_state") === 2;
    }, { timeoutMs: 15000, intervalMs: 10, what: "the breaker to open" });
    let text = await metrics(host);
    const shorted = metric(text, "nimbus_moderation_short_circuited_total");
    const opened = await moderate(host, "while open");
    assert.equal(opened.failOpen, true);
    assert.equal(opened.attempts, 0, "an open breaker answers without calling the provider");
    text = await metrics(host);
    assert.ok(metric(text, "nimbus_moderation_short_circuited_total") > shorted, text);
    assert.ok(metric(text, "nimbus_moderation_breaker_opens_total") >= 1);
    assert.ok(metric(text, 'nimbus_moderation_failures_total{kind="server_error"}') >= 5, text);
    assert.ok(metric(text, "nimbus_moderation_fail_open_total") >= 3);
    assert.ok(metric(text, "nimbus_moderation_retries_total") >= 2);
    assert.ok(metric(text, 'nimbus_moderation_calls_total{outcome="pending_review"}') >= 3);
    assert.ok(metric(text, 'nimbus_moderation_calls_total{outcome="approved"}') >= 1);
    assert.ok(metric(text, 'nimbus_moderation_calls_total{outcome="rejected"}') >= 2);
    assert.ok(metric(text, 'nimbus_moderation_latency_seconds_bucket{le="+Inf"}') >= 5);
    assert.ok(metric(text, "nimbus_moderation_latency_seconds_count") >= 5);
    assert.match(text, /# TYPE nimbus_moderation_latency_seconds histogram/);
    const health = (await request(host.port, "GET", "/api/health")).json;
    assert.equal(health.healthy, false);
    assert.notEqual(health.breaker, "closed");

    // The double recovers; after the cool-down a probe goes through and closes the breaker.
    await setFaults("");
    await waitFor(async () => {
      const v = await moderate(host, "a calm day");
      return v.failOpen === false && metric(await metrics(host), "nimbus_moderation_breaker_state") === 0;
    }, { timeoutMs: 20000, intervalMs: 250, what: "a probe to close the breaker" });
    assert.equal((await moderate(host, "a calm day")).status, "approved");
    assert.equal((await request(host.port, "GET", "/api/health")).json.healthy, true);

    assert.ok(!host.logs.includes(API_KEY), "the API key must never be logged");
    assert.ok(!host.logs.includes(secret), "moderated content must never be logged");
  });
});

describe("no GEMINI_API_KEY: the local rules answer", () => {
  let host;
  before(async () => {
    host = await startNimbus(copyApp("tests/apps/moderation-node"), ["--no-auth"]);
  });
  after(() => stopNimbus(host));

  test("local-rules verdicts and health", async () => {
    const ok = await moderate(host, "a calm day at the lake");
    assert.equal(ok.status, "approved");
    assert.equal(ok.provider, "local-rules");
    const bad = await moderate(host, "I hate you, vermin");
    assert.notEqual(bad.status, "approved");
    assert.equal(bad.provider, "local-rules");
    assert.deepEqual((await request(host.port, "GET", "/api/health")).json,
      { provider: "local-rules", breaker: "closed", healthy: true });
    assert.match(host.logs, /moderation inputs use the local rules/);
  });
});

describe("native functions (ModerationInput in the SDK options)", () => {
  let host;
  before(async () => {
    await setFaults("");
    host = await startNimbus(appWith("tests/apps/moderation-native", geminiValues()), ["--no-auth"]);
  });
  after(() => stopNimbus(host));

  test("ctx.input(name) is the verdict, the health, and a queue message's verdict", async () => {
    const ok = await moderate(host, "a calm day");
    assert.equal(ok.status, "approved");
    assert.equal(ok.provider, "gemini");
    assert.equal((await moderate(host, "I hate it")).status, "rejected");
    assert.deepEqual((await request(host.port, "GET", "/api/health")).json,
      { provider: "gemini", breaker: "closed", healthy: true });
    await queueClient(host.queuePort).getQueueClient("posts").createIfNotExists();
    await queueClient(host.queuePort).getQueueClient("posts")
      .sendMessage(JSON.stringify({ id: "n1", text: "I hate it" }));
    const v = await verdictOn(host, "verdicts", "n1");
    assert.equal(v.verdict.status, "rejected");
    assert.equal(v.verdict.provider, "gemini");
  });
});

test("a bad moderation binding refuses that function at load, naming it and the fix", async () => {
  const dir = copyApp("tests/apps/moderation-node");
  fs.mkdirSync(path.join(dir, "bad"));
  fs.writeFileSync(path.join(dir, "bad/function.json"), JSON.stringify({ bindings: [
    { type: "httpTrigger", direction: "in", name: "req", authLevel: "anonymous" },
    { type: "http", direction: "out", name: "res" },
    { type: "moderation", direction: "in", name: "verdict", text: 42 }] }));
  fs.mkdirSync(path.join(dir, "tick"));
  fs.writeFileSync(path.join(dir, "tick/function.json"), JSON.stringify({ bindings: [
    { type: "timerTrigger", direction: "in", name: "t", schedule: "0 0 * * * *" },
    { type: "moderation", direction: "in", name: "verdict", text: "{text}" }] }));
  const host = await startNimbus(dir, ["--no-auth"]);
  try {
    assert.match(host.logs, /bad\/function\.json: bindings\[2\]\.text: 42 must be a non-empty string/);
    assert.match(host.logs, /tick\/function\.json: input binding \\"verdict\\": text \\"\{text\}\\" uses \{text\}, which this function's trigger does not provide/);
    assert.equal((await request(host.port, "GET", "/api/bad")).status, 404);
    assert.equal((await moderate(host, "still fine")).status, "approved");
  } finally {
    await stopNimbus(host);
  }
});
