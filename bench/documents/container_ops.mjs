// How long the whole-container operations take on a large container, through the official
// @azure/cosmos against nimbus-docs-server (durable, --sync full), loopback only:
//   1. replace with a new indexingPolicy (every item's index rows rebuilt in one transaction),
//   2. replace with a new defaultTtl (every item's expiry recomputed),
//   3. deleteAllItemsForPartitionKey of one partition holding a tenth of the items,
//   4. the same filter answered by the index and by a scan, with populateQueryMetrics.
// Each of these holds the store's one writer while it runs, so its time is also how long other
// writes wait. Items are loaded with transactional batches of 100 (10 partitions).
//
//   node bench/documents/container_ops.mjs [--items 100000] [--out DIR]
//        [--nimbus-bin build/release/nimbus-docs-server]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { requireE2e, KEY, freePort, waitListening } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const ITEMS = Number(args.items ?? 100000);
const BIN = args["nimbus-bin"] ?? "build/release/nimbus-docs-server";
const DEADLINE_MS = 600000;  // the whole run
const started = Date.now();
const bounded = () => { if (Date.now() - started > DEADLINE_MS) throw new Error(`over ${DEADLINE_MS} ms: stopped`); };

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "nimbus-container-ops-"));
const server = spawn(BIN, ["--port", String(port), "--data", dir, "--sync", "full", "--no-tls", "--log-level", "Warning"], { stdio: ["ignore", "ignore", "inherit"] });
const results = { items: ITEMS, commit: process.env.NIMBUS_COMMIT ?? null, load1_before: loadavg()[0], steps: [] };
try {
  await waitListening(port, server);
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  const { database } = await client.databases.createIfNotExists({ id: "bench" });
  const { container } = await database.containers.createIfNotExists({ id: "big", partitionKey: { paths: ["/pk"] } });
  const step = async (name, f) => {
    bounded();
    const t0 = process.hrtime.bigint();
    const extra = await f();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    results.steps.push({ step: name, ms, ...extra });
    console.error(`${name.padEnd(52)} ${ms.toFixed(0).padStart(7)} ms ${extra ? JSON.stringify(extra) : ""}`);
  };

  await step(`load ${ITEMS} items (batches of 100, 4 in flight)`, async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < ITEMS) {
        bounded();
        const b = next; next += 100;
        const pk = `p${(b / 100) % 10}`;
        const ops = [];
        for (let i = b; i < Math.min(b + 100, ITEMS); i++)
          ops.push({ operationType: "Create", resourceBody: { id: `i${i}`, pk, n: i, tag: `t${i % 97}`, name: `name ${i}` } });
        const r = await container.items.batch(ops, pk);
        if (r.code >= 300) throw new Error(`batch at ${b}: ${r.code}`);
      }
    }));
  });
  const { resource: def } = await container.read();
  await step("replace: exclude /name/? (index rebuilt)", async () => {
    await container.replace({ ...def, indexingPolicy: { includedPaths: [{ path: "/*" }], excludedPaths: [{ path: "/name/?" }] } });
  });
  await step("replace: include everything again (index rebuilt)", async () => {
    await container.replace({ ...def, indexingPolicy: { includedPaths: [{ path: "/*" }], excludedPaths: [] } });
  });
  await step("replace: defaultTtl 3600 (expiries recomputed)", async () => {
    await container.replace({ ...def, defaultTtl: 3600 });
  });
  const metrics = async (sql) => {
    const page = await container.items.query(sql, { populateQueryMetrics: true, maxItemCount: 1000 }).fetchNext();
    const m = Object.values(page.queryMetrics)[0];
    return { rows: page.resources.length, retrieved: m.retrievedDocumentCount, store_ms: m.totalQueryExecutionTime.totalMilliseconds() };
  };
  await step("query c.tag = 't5' (indexed)", () => metrics("SELECT * FROM c WHERE c.tag = 't5'"));
  await step("query LOWER(c.tag) = 't5' (scan)", () => metrics("SELECT * FROM c WHERE LOWER(c.tag) = 't5'"));
  await step(`deleteAllItemsForPartitionKey p3 (${ITEMS / 10} items)`, async () => {
    const r = await container.deleteAllItemsForPartitionKey("p3");
    if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
  });
  await step("count after the delete", async () => {
    const { resources } = await container.items.query("SELECT VALUE COUNT(1) FROM c").fetchAll();
    return { count: resources[0] };
  });
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => server.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
results.load1_after = loadavg()[0];
console.log(JSON.stringify(results, null, 1));
if (args.out) { mkdirSync(args.out, { recursive: true }); writeFileSync(join(args.out, "container_ops.json"), JSON.stringify(results, null, 1)); }
