// Admission per trigger kind, on a real host: extensions.http.maxConcurrentRequests limits
// HTTP invocations only. Queue messages are admitted by their listener before they are
// fetched, so the HTTP limit never throttles them and never spends their delivery attempts
// (the bug of issue 7: limit 1, 60 messages -> 6 processed, 54 poisoned without running).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { copyApp, request, sleep, startNimbus, stopNimbus } from "./lib/nimbus.mjs";
import { approxCount, b64, drain, putAll, queueClient, unb64 } from "./lib/queues.mjs";

async function metric(host, pattern) {
  const m = (await request(host.port, "GET", "/metrics")).body.match(pattern);
  return m ? Number(m[1]) : 0;
}

describe("maxConcurrentRequests 1 with a queue-triggered function", () => {
  let host, svc;
  before(async () => {
    const app = copyApp("tests/apps/queue-native", (h) => {
      h.extensions.http = { maxConcurrentRequests: 1 };
    });
    host = await startNimbus(app, ["--no-auth"]);
    svc = queueClient(host.queuePort);
  });
  after(() => stopNimbus(host));

  test("60 messages: all 60 processed, none throttled or poisoned", async () => {
    const texts = Array.from({ length: 60 }, (_, i) => `m${i}`);
    await putAll(svc.getQueueClient("jobs"), texts.map(b64));
    const done = (await drain(svc.getQueueClient("jobs-done"), 60, 60000)).map(unb64).sort();
    assert.deepEqual(done, texts.map((t) => `${t}|1`).sort(), "each ran once, on its first delivery");
    const processed = /nimbus_queue_messages_total\{function="work",queue="jobs",outcome="processed"\} (\d+)/;
    // The completion commits before the metric is counted; wait for the count, bounded.
    const t0 = Date.now();
    while ((await metric(host, processed)) < 60 && Date.now() - t0 < 10000) await sleep(50);
    assert.equal(await metric(host, processed), 60);
    assert.equal(await metric(host, /nimbus_queue_messages_total\{function="work",queue="jobs",outcome="poisoned"\} (\d+)/), 0);
    assert.equal(await metric(host, /nimbus_invocations_total\{function="work",trigger="queue",status="throttled"\} (\d+)/), 0);
    assert.equal(await approxCount(svc.getQueueClient("jobs")), 0);
    const names = [];
    for await (const q of svc.listQueues()) names.push(q.name);
    assert.ok(!names.includes("jobs-poison"), "no poison queue was ever created");
  });

  test("HTTP invocations are still admitted under the limit", async () => {
    const r = await request(host.port, "POST", "/api/submit/jobs", { body: "from-http" });
    assert.equal(r.status, 202);
    const done = (await drain(svc.getQueueClient("jobs-done"), 1)).map(unb64);
    assert.deepEqual(done, ["from-http|1"]);
  });
});
