// Reading a container page by page through the official @azure/cosmos: the server CPU and time
// of `items.readAll({maxItemCount}).fetchAll()` (the SDK sends it as `SELECT * FROM c`), of a
// filtered query over an unindexed path, and of an ORDER BY query over an indexed path (paged
// along the index since ec23bac; re-run per page before), and of GROUP BY and DISTINCT over
// --groups values, at --items items. With --baseline-bin, the same steps run against that build
// first, in the same run (loopback only; every step bounded by the item count and a deadline).
//
//   node bench/documents/query_paging.mjs [--items 20000] [--page 100] [--groups 2000]
//        [--nimbus-bin build/release/nimbus-docs-server] [--baseline-bin <older build>] [--out DIR]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";

import { requireE2e, KEY, cpuSeconds, freePort, waitListening } from "./lib.mjs";

const { CosmosClient, BulkOperationType } = requireE2e("@azure/cosmos");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const ITEMS = Number(args.items ?? 20000);
const PAGE = Number(args.page ?? 100);
const GROUPS = Number(args.groups ?? 2000);  // distinct values of c.g, for GROUP BY and DISTINCT
const STEP_DEADLINE_MS = 300000;

async function measure(label, bin) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "nimbus-paging-"));
  const proc = spawn(bin, ["--port", String(port), "--data", dir, "--sync", "normal", "--log-level", "Warning"], { stdio: ["ignore", "ignore", "inherit"] });
  const rows = [];
  try {
    await waitListening(port, proc);
    const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
    const { database } = await client.databases.createIfNotExists({ id: "bench" });
    const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] },
      indexingPolicy: { excludedPaths: [{ path: "/note/?" }] } });
    for (let i = 0; i < ITEMS; i += 100) {
      const ops = [];
      for (let j = i; j < Math.min(ITEMS, i + 100); j++)
        ops.push({ operationType: BulkOperationType.Create, partitionKey: `p${j % 100}`,
          resourceBody: { id: `item-${j}`, pk: `p${j % 100}`, n: j, g: j % GROUPS, note: j % 10 === 0 ? "tenth" : "other", text: "x".repeat(200) } });
      await container.items.executeBulkOperations(ops);
    }
    const steps = [
      ["readAll, all items", () => container.items.readAll({ maxItemCount: PAGE }).fetchAll(), ITEMS],
      ["filter on an unindexed path, a tenth of the items", () => container.items.query("SELECT * FROM c WHERE c.note = 'tenth'", { maxItemCount: PAGE }).fetchAll(), ITEMS / 10],
      ["ORDER BY c.n, all items", () => container.items.query("SELECT c.id FROM c ORDER BY c.n", { maxItemCount: PAGE }).fetchAll(), ITEMS],
      [`GROUP BY c.g, ${GROUPS} groups`, () => container.items.query("SELECT c.g, COUNT(1) AS n FROM c GROUP BY c.g", { maxItemCount: PAGE }).fetchAll(), GROUPS],
      [`DISTINCT VALUE c.g, ${GROUPS} values`, () => container.items.query("SELECT DISTINCT VALUE c.g FROM c", { maxItemCount: PAGE }).fetchAll(), GROUPS],
    ];
    for (const [name, run, expect] of steps) {
      const cpu0 = cpuSeconds(proc.pid), t0 = Date.now();
      const r = await Promise.race([run(), new Promise((_, reject) => setTimeout(() => reject(new Error(`over ${STEP_DEADLINE_MS} ms`)), STEP_DEADLINE_MS))])
        .catch((e) => ({ error: String(e.message).slice(0, 200) }));
      const row = { build: label, step: name, items: ITEMS, page: PAGE, rows: r.resources?.length ?? null, expected: expect,
        seconds: (Date.now() - t0) / 1000, server_cpu_s: cpuSeconds(proc.pid) - cpu0, error: r.error ?? null, load1: loadavg()[0] };
      rows.push(row);
      console.log(`${label.padEnd(9)} ${name.padEnd(52)} ${String(row.rows).padStart(6)} rows, ${row.seconds.toFixed(2)} s, server CPU ${row.server_cpu_s.toFixed(2)} s${row.error ? "  ERROR " + row.error : ""}`);
    }
  } finally {
    proc.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    if (proc.exitCode === null) proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const rows = [];
if (args["baseline-bin"]) rows.push(...await measure("baseline", args["baseline-bin"]));
rows.push(...await measure("nimbus", args["nimbus-bin"] ?? "build/release/nimbus-docs-server"));
if (args.out) {
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, "query_paging.json"), JSON.stringify({ items: ITEMS, page: PAGE, rows }, null, 2));
}
process.exit(rows.some((r) => r.error) ? 1 : 0);  // the SDK's keep-alive sockets would hold the process
