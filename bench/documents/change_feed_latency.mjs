// Write -> cosmosDBTrigger function start, through the real host: the official @azure/cosmos
// client writes N events one at a time (each waits for its 201, then a gap so batches hold one
// event), the trigger's function stamps when it started; p50/p90/p99 of (start - sentAt).
// Also the same writes' own latency (201 round trip) for scale. Bounded: N events, 120 s.
// Usage: node bench/documents/change_feed_latency.mjs NIMBUS_BIN [N] [OUT.json]
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { requireE2e, KEY, root } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");
const [bin, nArg, out] = process.argv.slice(2);
const N = Number(nArg ?? 200);
const deadline = Date.now() + 120_000;

const data = fs.mkdtempSync(path.join(os.tmpdir(), "nimbus-cf-bench-"));
const host = spawn(bin, ["start", path.join(root, "bench/apps/changefeed-node"), "--port", "0", "--queue-port", "0",
  "--docs-port", "0", "--data", data], { stdio: ["ignore", "pipe", "pipe"] });
let logs = "";
host.stdout.on("data", (d) => (logs += d));
host.stderr.on("data", (d) => (logs += d));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
try {
  let port;
  while (!(port = /Document service \(Cosmos DB NoSQL API\) listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(logs)?.[1])) {
    if (Date.now() > deadline || host.exitCode !== null) throw new Error(`host did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY });
  const { database } = await client.databases.createIfNotExists({ id: "bench" });
  const { container: events } = await database.containers.createIfNotExists({ id: "events", partitionKey: { paths: ["/run"] } });
  const seen = database.container("seen");
  const run = `r${Date.now()}`;
  const writes = [];
  for (let i = 0; i < N && Date.now() < deadline; i++) {
    const t0 = performance.now();
    await events.items.create({ id: `e${i}`, run, sentAt: performance.timeOrigin + performance.now() });
    writes.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  let rows = [];
  while (rows.length < writes.length && Date.now() < deadline) {
    ({ resources: rows } = await seen.items.query({ query: "SELECT c.latencyMs, c.batch FROM c WHERE c.run = @r", parameters: [{ name: "@r", value: run }] }).fetchAll());
    if (rows.length < writes.length) await new Promise((r) => setTimeout(r, 100));
  }
  const lat = rows.map((r) => r.latencyMs).sort((a, b) => a - b);
  writes.sort((a, b) => a - b);
  const result = {
    events: writes.length, delivered: rows.length,
    trigger_latency_ms: { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), max: lat.at(-1) },
    write_roundtrip_ms: { p50: +pct(writes, 50).toFixed(2), p99: +pct(writes, 99).toFixed(2) },
    mean_batch: rows.reduce((s, r) => s + r.batch, 0) / Math.max(1, rows.length),
    load: os.loadavg(),
  };
  console.log(JSON.stringify(result, null, 2));
  if (out) fs.writeFileSync(out, JSON.stringify(result, null, 2));
  if (rows.length < writes.length) process.exitCode = 1;
} finally {
  host.kill("SIGTERM");
}
