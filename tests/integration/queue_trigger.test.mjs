// Queue triggers with both worker kinds, driven by the official @azure/storage-queue client:
// push delivery, queue outputs committed with completion, retries, poison queues, metrics.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { appPath, copyApp, request, startNimbus, stopNimbus, waitFor, waitForLog } from "./lib/nimbus.mjs";
import { QueueServiceClient, approxCount, b64, drain, putAll, queueClient, unb64 } from "./lib/queues.mjs";

async function metric(host, pattern) {
  const m = (await request(host.port, "GET", "/metrics")).body.match(pattern);
  return m ? Number(m[1]) : 0;
}

describe("native queue functions (base64 messages)", () => {
  let host, svc;
  before(async () => {
    host = await startNimbus(appPath("tests/apps/queue-native"), ["--no-auth"]);
    svc = queueClient(host.queuePort);
  });
  after(() => stopNimbus(host));

  test("a message put with the SDK runs the function and its output lands in jobs-done", async () => {
    const jobs = svc.getQueueClient("jobs");
    await putAll(jobs, ["alpha", "beta", "gamma"].map(b64));
    const done = (await drain(svc.getQueueClient("jobs-done"), 3)).map(unb64).sort();
    assert.deepEqual(done, ["alpha|1", "beta|1", "gamma|1"]);
    assert.equal(await approxCount(jobs), 0, "completed messages are deleted");
    await waitForLog(host, /"category":"Function\.work\.User","msg":"working on alpha"/);
    assert.equal(await metric(host, /nimbus_queue_messages_total\{function="work",queue="jobs",outcome="processed"\} (\d+)/), 3);
  });

  test("an HTTP function's queue output triggers the queue function", async () => {
    const r = await request(host.port, "POST", "/api/submit/jobs", { body: "from-http" });
    assert.equal(r.status, 202);
    const done = (await drain(svc.getQueueClient("jobs-done"), 1)).map(unb64);
    assert.deepEqual(done, ["from-http|1"]);
  });

  test("a failing message ends in <queue>-poison after exactly maxDequeueCount attempts; others keep flowing", async () => {
    const doomed = svc.getQueueClient("doomed");
    await doomed.sendMessage(b64("bad order"));
    await putAll(svc.getQueueClient("jobs"), ["x1", "x2"].map(b64));
    const done = (await drain(svc.getQueueClient("jobs-done"), 2)).map(unb64).sort();
    assert.deepEqual(done, ["x1|1", "x2|1"]);
    const poison = await drain(svc.getQueueClient("doomed-poison"), 1);
    assert.deepEqual(poison.map(unb64), ["bad order"], "original content preserved");
    assert.equal(await metric(host, /nimbus_invocations_total\{function="doomed",trigger="queue",status="failed"\} (\d+)/), 3);
    assert.equal(await metric(host, /nimbus_queue_messages_total\{function="doomed",queue="doomed",outcome="poisoned"\} (\d+)/), 1);
    await waitForLog(host, /Message has reached MaxDequeueCount of 3\. Moving message to queue 'doomed-poison'/);
    assert.equal(await approxCount(doomed), 0);
  });

  test("content that is not base64 fails and is poisoned, with an error that says why", async () => {
    await svc.getQueueClient("jobs").sendMessage("not base64 at all!");
    const poison = await drain(svc.getQueueClient("jobs-poison"), 1);
    assert.deepEqual(poison, ["not base64 at all!"]);
    await waitForLog(host, /is not valid base64; producers must base64-encode/);
  });

  test("a run longer than the lease keeps its message hidden (renewal): it runs once", async () => {
    // The function runs 5 s; the lease is 2 s. Without renewal the message would be visible
    // again at 2 s and a second delivery (dequeue count 2) would start while the first runs.
    const jobs = svc.getQueueClient("long-jobs");
    await jobs.sendMessage(b64("long one"));
    const done = await drain(svc.getQueueClient("long-done"), 1, 20000);
    assert.deepEqual(done.map(unb64), ["long one|1"]);
    // Wait (bounded) until nothing of it is left anywhere: the message deleted by its completion
    // and no invocation in flight. A second delivery would still be running at this point.
    await waitFor(async () => (await approxCount(jobs)) === 0 &&
      (await metric(host, /nimbus_invocations_in_flight (\d+)/)) === 0,
      { timeoutMs: 15000, intervalMs: 100, what: "long-jobs empty and no invocation in flight" });
    assert.equal(await metric(host, /nimbus_invocations_total\{function="long",trigger="queue",status="succeeded"\} (\d+)/), 1);
    const all = [...(await request(host.port, "GET", "/metrics")).body.matchAll(
      /nimbus_invocations_total\{function="long",trigger="queue",status="[a-z_]+"\} (\d+)/g)];
    assert.equal(all.reduce((n, m) => n + Number(m[1]), 0), 1, "one invocation of any outcome");
    assert.equal(await approxCount(svc.getQueueClient("long-done")), 0, "no second delivery");
  });

  test("POST /admin/functions/{name} runs a queue function once with the given input", async () => {
    const body = JSON.stringify({ input: "by hand" });
    const r = await request(host.port, "POST", "/admin/functions/work", { body });
    assert.equal(r.status, 202);
    const done = (await drain(svc.getQueueClient("jobs-done"), 1)).map(unb64);
    assert.deepEqual(done, ["by hand|1"]);
    assert.equal((await request(host.port, "POST", "/admin/functions/nope", { body })).status, 404);
    assert.equal((await request(host.port, "POST", "/admin/functions/submit", { body })).status, 400);
    const bad = await request(host.port, "POST", "/admin/functions/work", { body: "{\"input\": 5}" });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /\{"input": "<message text>"\}/);
  });

  test("queue depth (poison queues too), oldest-message age and process metrics are in /metrics", async () => {
    const m = (await request(host.port, "GET", "/metrics")).body;
    assert.match(m, /nimbus_queue_depth\{queue="jobs"\} \d+/);
    assert.match(m, /nimbus_queue_depth\{queue="jobs-poison"\} \d+/);
    assert.match(m, /nimbus_queue_oldest_message_age_seconds\{queue="jobs"\} [\d.]+/);
    assert.match(m, /process_cpu_seconds_total [\d.]+/);
    assert.match(m, /process_open_fds [1-9]\d*/);
    assert.match(m, /nimbus_build_info\{version="[^"]+"\} 1/);
    const rss = Number(/process_resident_memory_bytes (\d+)/.exec(m)[1]);
    assert.ok(rss > 1e6 && rss < 1e9, `resident memory ${rss}`);
  });
});

describe("custom handler queue functions (messageEncoding none)", () => {
  let host, svc;
  before(async () => {
    host = await startNimbus(appPath("tests/apps/queue-node"), ["--no-auth"]);
    svc = queueClient(host.queuePort);
  });
  after(() => stopNimbus(host));

  test("the handler gets Data.<name> and the message metadata, and $return goes to the output queue", async () => {
    const receipt = await svc.getQueueClient("jobs").sendMessage("plain text");
    const [out] = await drain(svc.getQueueClient("jobs-done"), 1);
    const got = JSON.parse(out);
    assert.equal(got.item, "plain text");
    assert.equal(got.meta.Id, receipt.messageId);
    assert.equal(got.meta.DequeueCount, 1);
    for (const k of ["InsertionTime", "ExpirationTime", "NextVisibleTime", "PopReceipt"])
      assert.ok(got.meta[k], `Metadata.${k}`);
    assert.equal(got.meta.sys.MethodName, "work");
  });

  test("an HTTP function fans an array out into several queue messages", async () => {
    const r = await request(host.port, "POST", "/api/submit", { body: JSON.stringify(["a", "b", "c", "d"]) });
    assert.equal(r.status, 202);
    const items = (await drain(svc.getQueueClient("jobs-done"), 4)).map((t) => JSON.parse(t).item).sort();
    assert.deepEqual(items, ["a", "b", "c", "d"]);
  });

  test("the retry policy spaces attempts; poison after maxDequeueCount", async () => {
    const t0 = Date.now();
    await svc.getQueueClient("doomed").sendMessage("never works");
    const poison = await drain(svc.getQueueClient("doomed-poison"), 1, 20000);
    assert.deepEqual(poison, ["never works"]);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1900, `3 attempts 1 s apart take at least 2 s (took ${elapsed} ms)`);
  });
});

describe("queue service accounts from host.json", () => {
  let host;
  const key2 = Buffer.from("a second account's key, 32 bytes").toString("base64");
  before(async () => {
    const dir = copyApp("tests/apps/queue-node", (h) => {
      h.nimbus.queueService = { accounts: `acct2:${key2}` };
    });
    host = await startNimbus(dir, ["--no-auth"]);
  });
  after(() => stopNimbus(host));

  test("a configured account works with its key; a wrong key gets 403 and changes nothing", async () => {
    const conn = (key) => `DefaultEndpointsProtocol=http;AccountName=acct2;AccountKey=${key};` +
      `QueueEndpoint=http://127.0.0.1:${host.queuePort}/acct2;`;
    const good = QueueServiceClient.fromConnectionString(conn(key2), { retryOptions: { maxTries: 1 } });
    await good.getQueueClient("other-account").create();
    const names = [];
    for await (const q of good.listQueues()) names.push(q.name);
    assert.deepEqual(names, ["other-account"]);
    const bad = QueueServiceClient.fromConnectionString(conn(Buffer.from("wrong").toString("base64")),
      { retryOptions: { maxTries: 1 } });
    await assert.rejects(bad.getQueueClient("sneaky").create(), (e) => e.statusCode === 403 && e.code === "AuthenticationFailed");
    const after = [];
    for await (const q of good.listQueues()) after.push(q.name);
    assert.deepEqual(after, ["other-account"]);
    // The development account is still served (triggers use it).
    assert.ok(await queueClient(host.queuePort).getQueueClient("jobs").exists());
  });
});
