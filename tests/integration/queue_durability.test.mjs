// Durability under SIGKILL: kill the host while a queue-triggered function drains 10,000
// messages, restart it on the same data directory, and count: every message processed, its
// output written exactly once (completion and outputs commit together), how many ran twice.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appPath, sleep, startNimbus, stopNimbus, tempDir } from "./lib/nimbus.mjs";
import { approxCount, b64, putAll, queueClient, unb64 } from "./lib/queues.mjs";

const N = 10000;

function invocations(logs) {
  return logs.split("\n").filter((l) => l.includes('"function":"slow"') && l.includes('"invocation finished"')).length;
}

// Reads every message of `queue` without deleting (receive with a long visibility timeout).
async function readAll(queue, want, timeoutMs) {
  const texts = [];
  const t0 = Date.now();
  while (texts.length < want && Date.now() - t0 < timeoutMs) {
    const r = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 600 });
    if (r.receivedMessageItems.length === 0) await sleep(100);
    for (const m of r.receivedMessageItems) texts.push(unb64(m.messageText));
  }
  return texts;
}

test(`kill -9 while draining ${N} messages loses none`, { timeout: 240000 }, async () => {
  const data = tempDir("nimbus-durable-");
  let host = await startNimbus(appPath("tests/apps/queue-native"), ["--no-auth", "--data", data]);
  let svc = queueClient(host.queuePort);
  const texts = Array.from({ length: N }, (_, i) => `m${i}`);
  await putAll(svc.getQueueClient("slow-jobs"), texts.map(b64), 64);  // every put acknowledged
  // Let the function get going, then kill the host mid-drain.
  const done = svc.getQueueClient("slow-done");
  const t0 = Date.now();
  while ((await approxCount(done)) < 1000 && Date.now() - t0 < 60000) await sleep(50);
  host.proc.kill("SIGKILL");
  await new Promise((r) => host.proc.on("exit", r));
  const firstRun = invocations(host.logs);
  const remainingAtKill = N - firstRun;
  assert.ok(remainingAtKill > 0, "the kill happened while messages were still waiting");

  host = await startNimbus(appPath("tests/apps/queue-native"), ["--no-auth", "--data", data]);
  try {
    svc = queueClient(host.queuePort);
    const jobs = svc.getQueueClient("slow-jobs");
    const t1 = Date.now();
    // In-flight messages at the kill come back when their lease (2 s) ends.
    while (((await approxCount(jobs)) > 0 || (await approxCount(svc.getQueueClient("slow-done"))) < N) &&
           Date.now() - t1 < 120000)
      await sleep(200);
    const outputs = await readAll(svc.getQueueClient("slow-done"), N, 60000);
    const distinct = new Set(outputs);
    const total = firstRun + invocations(host.logs);
    // "Ran twice" counts invocations that finished twice (the kill came between the end of the
    // first run and its commit); a run cut off mid-function by the kill logs nothing.
    console.log(`${N} messages; ${firstRun} invocations finished before SIGKILL, ${total} in all; ` +
                `${total - N} ran twice; outputs ${outputs.length} (distinct ${distinct.size})`);
    assert.equal(distinct.size, N, "every message was processed");
    assert.equal(outputs.length, N, "each output written exactly once");
    for (const t of texts) assert.ok(distinct.has(t), `lost ${t}`);
    assert.equal(await approxCount(jobs), 0);
  } finally {
    await stopNimbus(host);
  }
});
