// End-to-end: cosmosDBTrigger functions of a custom-handler app on `nimbus start`, fed by the
// official @azure/cosmos client: every write reaches the function in order, a failing batch is
// retried rather than skipped, a restart resumes after the last completed batch, and a SIGKILL
// mid-drain loses nothing and runs no completed batch twice (its outputs commit with the
// lease's advance). Missing lease containers are reported with the fix, then picked up.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { CosmosClient } from "@azure/cosmos";
import { queueClient } from "../integration/lib/queues.mjs";
import fs from "node:fs";
import path from "node:path";
import { appPath, copyApp, runNimbus, request, startNimbus, stopNimbus, tempDir, waitFor, waitForLog, keys } from "../integration/lib/nimbus.mjs";

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const APP = appPath("tests/apps/changefeed-node");

let host;
after(() => stopNimbus(host));

async function open(h) {
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${h.docsPort}/`, key: EMULATOR_KEY });
  const { database } = await client.databases.createIfNotExists({ id: "shop" });
  const { container: orders } = await database.containers.createIfNotExists({ id: "orders", partitionKey: { paths: ["/customer"] } });
  const { container: audit } = await database.containers.createIfNotExists({ id: "audit", partitionKey: { paths: ["/src"] } });
  return { client, database, orders, audit };
}

// Audit documents per source order id: {id: count}.
async function auditCounts(audit) {
  const { resources } = await audit.items
    .query("SELECT c.src, COUNT(1) AS n FROM c GROUP BY c.src", { maxItemCount: 1000 })
    .fetchAll();
  return Object.fromEntries(resources.map((r) => [r.src, r.n]));
}

test("writes reach the cosmosDBTrigger function as batches with their system properties; outputs commit", async () => {
  const data = tempDir("nimbus-cf-");
  host = await startNimbus(APP, ["--data", data]);
  const { orders, audit, database } = await open(host);
  for (let i = 0; i < 20; i++) await orders.items.create({ id: `o-${i}`, customer: `c-${i % 3}`, v: i });
  await waitFor(async () => Object.keys(await auditCounts(audit)).length === 20, { timeoutMs: 15000, what: "20 audit documents" });
  const { resources } = await audit.items.query("SELECT * FROM c WHERE c.src = 'o-7'").fetchAll();
  assert.equal(resources.length, 1);
  assert.equal(resources[0].v, 7);
  assert.ok(resources[0].lsn > 0, "the document came with _lsn");
  assert.equal(resources[0].payloadType, "string", "Data.<name> is the batch as a JSON string");
  // An update is a change too: the latest version arrives.
  const { resource } = await orders.item("o-7", "c-1").read();
  await orders.item("o-7", "c-1").replace({ ...resource, v: 70 });
  await waitFor(async () => {
    const { resources } = await audit.items.query("SELECT VALUE c.v FROM c WHERE c.src = 'o-7'").fetchAll();
    return resources.includes(70);
  }, { timeoutMs: 10000, what: "the update's audit document" });
  // The lease is a document of the lease container, created on demand (partition key /id).
  const { resources: leases } = await database.container("leases").items.readAll().fetchAll();
  assert.equal(leases.length, 1);
  assert.equal(leases[0].id, "nimbus_shop_orders..0");
  assert.match(leases[0].ContinuationToken, /^"\d+"$/);
  // The second function waits for its lease container (no createLeaseContainerIfNotExists),
  // saying how to fix it; once it exists, it starts from now.
  await waitForLog(host, /stats-leases[^\n]*createLeaseContainerIfNotExists[^\n]*starts once that is fixed/);
  await database.containers.create({ id: "stats-leases", partitionKey: { paths: ["/id"] } });
  await waitForLog(host, /"msg":"listening"[^\n]*"function":"stats"/, 15000);
  await stopNimbus(host);
});

test("a batch is cut at 4 MiB of documents: three 1.5 MB orders waiting together arrive in batches under it", async () => {
  host = await startNimbus(APP);
  const { orders, audit } = await open(host);
  // The gate fails three times (200 ms apart), so the big orders pile up behind it.
  await orders.items.create({ id: "gate", customer: "big", failTimes: 3 });
  const pad = "x".repeat(1_500_000);
  for (const id of ["big-0", "big-1", "big-2"]) await orders.items.create({ id, customer: "big", pad });
  let rows;
  await waitFor(async () => {
    ({ resources: rows } = await audit.items.query("SELECT c.src, c.batch, c.bytes FROM c WHERE c.src = 'gate' OR STARTSWITH(c.src, 'big-')").fetchAll());
    return rows.length === 4;
  }, { timeoutMs: 15000, what: "the gate and three big orders audited" });
  for (const r of rows) assert.ok(r.bytes <= 4 * 1024 * 1024, `${r.src} came in a batch of ${r.bytes} bytes`);
  await stopNimbus(host);
});

test("a container created after the function started is read from its first write (\"from now\" = from the start)", async () => {
  host = await startNimbus(APP);
  const { database } = await open(host);
  await waitForLog(host, /container \\"late\\" of database \\"shop\\" cannot be read/);
  const { container: late } = await database.containers.create({ id: "late", partitionKey: { paths: ["/id"] } });
  for (let i = 0; i < 5; i++) await late.items.create({ id: `late-${i}` });
  const q = queueClient(host.queuePort).getQueueClient("late-seen");
  const seen = new Set();
  await waitFor(async () => {
    if (!(await q.exists())) return false;
    const { receivedMessageItems } = await q.receiveMessages({ numberOfMessages: 32 });
    for (const m of receivedMessageItems) seen.add(Buffer.from(m.messageText, "base64").toString());
    return seen.size === 5;
  }, { timeoutMs: 10000, what: "all five early writes delivered" });
  await stopNimbus(host);
});

test("a failing batch is retried, not skipped, and succeeds once the function does", async () => {
  host = await startNimbus(APP);
  const { orders, audit } = await open(host);
  await orders.items.create({ id: "flaky", customer: "c-0", v: 1, failTimes: 2 });
  await waitFor(async () => (await auditCounts(audit)).flaky === 1, { timeoutMs: 15000, what: "the flaky order processed" });
  assert.equal((host.logs.match(/batch failed; it will be retried/g) ?? []).length, 2, host.logs);
  const m = await request(host.port, "GET", "/metrics", { headers: { "x-functions-key": keys(host).masterKey } });
  assert.match(m.body, /nimbus_change_feed_batches_total\{function="audit",outcome="failed"\} 2/);
  assert.match(m.body, /nimbus_change_feed_batches_total\{function="audit",outcome="processed"\} 1/);
  assert.match(m.body, /nimbus_change_feed_lag_lsn\{function="audit"\} 0/);
  // The document service's own requests, by operation and status.
  assert.match(m.body, /nimbus_document_operations_total\{operation="create",status="201"\} [1-9]/);
  assert.match(m.body, /nimbus_document_operations_total\{operation="container.post",status="201"\} [1-9]/);
  // Documents in every container: the one order, its one audit, and the lease container no
  // binding names as an input or output (its lease documents are counted too).
  assert.match(m.body, /nimbus_documents\{database="shop",container="orders"\} 1\n/);
  assert.match(m.body, /nimbus_documents\{database="shop",container="audit"\} 1\n/);
  assert.match(m.body, /nimbus_documents\{database="shop",container="leases"\} [1-9]\d*\n/);
  await stopNimbus(host);
});

test("a restart resumes after the last completed batch: writes made while down arrive, nothing twice", async () => {
  const data = tempDir("nimbus-cf-");
  host = await startNimbus(APP, ["--data", data]);
  let { orders, audit } = await open(host);
  for (let i = 0; i < 5; i++) await orders.items.create({ id: `a-${i}`, customer: "c", v: i });
  await waitFor(async () => Object.keys(await auditCounts(audit)).length === 5, { timeoutMs: 15000, what: "5 audits" });
  await stopNimbus(host);
  // The restarted listener reads its lease and continues after the fifth order.
  host = await startNimbus(APP, ["--data", data]);
  ({ orders, audit } = await open(host));
  for (let i = 5; i < 10; i++) await orders.items.create({ id: `a-${i}`, customer: "c", v: i });
  await waitFor(async () => Object.keys(await auditCounts(audit)).length === 10, { timeoutMs: 15000, what: "10 audits" });
  const counts = await auditCounts(audit);
  assert.deepEqual(Object.values(counts).filter((n) => n !== 1), [], "no order audited twice");
  await stopNimbus(host);
});

test("SIGKILL mid-drain: no change lost, no completed batch's outputs written twice", async () => {
  const data = tempDir("nimbus-cf-");
  host = await startNimbus(APP, ["--data", data]);
  let { orders, audit } = await open(host);
  const N = 1500;
  // Writers run while the trigger drains; the kill lands while both are under way.
  let next = 0, stop = false;
  const acked = new Set();
  const writer = async () => {
    while (!stop && next < N) {
      const i = next++;
      try {
        await orders.items.create({ id: `k-${i}`, customer: `c-${i % 17}`, v: i });
        acked.add(i);
      } catch {
        return;  // the host is gone
      }
    }
  };
  const writers = Promise.all(Array.from({ length: 8 }, writer));
  let atKill;
  await waitFor(async () => {
    atKill = Object.keys(await auditCounts(audit)).length;
    return atKill >= 200;
  }, { timeoutMs: 30000, intervalMs: 5, what: "the drain under way" });
  stop = true;
  host.proc.kill("SIGKILL");
  await writers;
  await waitFor(() => host.exited, { timeoutMs: 5000, what: "the host gone" });
  host = await startNimbus(APP, ["--data", data]);
  ({ orders, audit } = await open(host));
  // Every order not acknowledged before the kill is written now (create: one acknowledged
  // but unanswered is a 409 and no new change).
  for (let i = 0; i < N; i++) {
    if (acked.has(i)) continue;
    try {
      await orders.items.create({ id: `k-${i}`, customer: `c-${i % 17}`, v: i });
    } catch (e) {
      if (e.code !== 409) throw e;
    }
  }
  let counts;
  await waitFor(async () => {
    counts = await auditCounts(audit);
    return Object.keys(counts).filter((k) => k.startsWith("k-")).length === N;
  }, { timeoutMs: 60000, what: `${N} orders audited after the restart` });
  const lost = Array.from({ length: N }, (_, i) => `k-${i}`).filter((id) => !counts[id]).length;
  const rerun = Object.entries(counts).filter(([k, n]) => k.startsWith("k-") && n > 1).length;
  console.log(`change feed SIGKILL: ${N} orders, ${acked.size} acknowledged before the kill, ` +
              `${atKill} audited at the kill; after restart lost ${lost}, audited twice ${rerun}`);
  assert.ok(atKill < acked.size || acked.size < N, "the kill landed mid-drain or mid-write");
  assert.equal(lost, 0);
  assert.equal(rerun, 0);
  await stopNimbus(host);
});

test("cosmosDB inputs reach a custom handler: a document as an object, null when absent, query rows as JSON text", async () => {
  host = await startNimbus(APP);
  const { orders } = await open(host);
  await orders.items.create({ id: "l-1", customer: "lk", v: 2 });
  await orders.items.create({ id: "l-2", customer: "lk", v: 1 });
  const r = await request(host.port, "GET", "/api/lookup/lk/l-1");
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.order.v, 2);
  assert.equal(typeof r.json.mine, "string");
  assert.deepEqual(JSON.parse(r.json.mine), ["l-2", "l-1"]);
  const none = await request(host.port, "GET", "/api/lookup/lk/nope");
  assert.equal(none.json.order, null);
  await stopNimbus(host);
});

test("two functions on one lease are refused at start, naming both and the fix", () => {
  const app = copyApp("tests/apps/changefeed-node");
  fs.mkdirSync(path.join(app, "audit2"));
  fs.copyFileSync(path.join(app, "audit", "function.json"), path.join(app, "audit2", "function.json"));
  const r = runNimbus(["start", app, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", tempDir("nimbus-cf-")]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /functions "audit" and "audit2" both watch container "orders" of database "shop" with the same lease .*give each a different leaseContainerPrefix/);
});

test("run by hand through the admin API, with bad input refused", async () => {
  host = await startNimbus(APP);
  const { audit } = await open(host);
  const master = keys(host).masterKey;
  const run = (input) => request(host.port, "POST", "/admin/functions/audit", {
    headers: { "x-functions-key": master, "content-type": "application/json" },
    body: JSON.stringify({ input }),
  });
  const bad = await run("[1,2]");
  assert.equal(bad.status, 400);
  assert.match(bad.body, /must be a JSON object or a non-empty array of objects/);
  assert.equal((await run(JSON.stringify({ id: "manual-1", v: 5 }))).status, 202);
  await waitFor(async () => (await auditCounts(audit))["manual-1"] === 1, { timeoutMs: 10000, what: "the manual run's audit" });
  await stopNimbus(host);
});
