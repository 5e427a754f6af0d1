// Full-text search through the official @azure/cosmos against nimbus-docs-server: the same
// items in two containers, one with a full-text index on /text (indexingPolicy.fullTextIndexes)
// and one without, and per container the server CPU of writing them (bulk creates) and of
// FullTextContains filters (a rare word, a phrase of two common words) and TOP 10 ORDER BY
// RANK FullTextScore. The ratio of the two containers in one run is what the index buys (and
// costs per write). Loopback only; every query runs --reps times, each bounded by a deadline.
//
//   node bench/documents/fulltext_query.mjs [--items 20000] [--reps 20]
//        [--nimbus-bin build/release/nimbus-docs-server] [--out DIR]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";

import { requireE2e, KEY, cpuSeconds, freePort, waitListening } from "./lib.mjs";

const { CosmosClient, BulkOperationType } = requireE2e("@azure/cosmos");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const ITEMS = Number(args.items ?? 20000);
const REPS = Number(args.reps ?? 20);
const BIN = args["nimbus-bin"] ?? "build/release/nimbus-docs-server";
const DEADLINE_MS = 120000;

// 20 words of 200, roughly Zipf (the words of docsql_bench): "red" and "bicycle" common.
function text(i) {
  let x = BigInt(i) * 2654435761n + 1n;
  const words = [];
  for (let w = 0; w < 20; w++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn;
    const u = Number(x >> 11n) / 9007199254740992;
    const k = Math.floor(Math.pow(200, u)) - 1;
    words.push(k === 0 ? "red" : k === 1 ? "bicycle" : `w${k}`);
  }
  return words.join(" ");
}

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "nimbus-fulltext-"));
const proc = spawn(BIN, ["--port", String(port), "--data", dir, "--log-level", "Warning"], { stdio: ["ignore", "ignore", "inherit"] });
const rows = [];
try {
  await waitListening(port, proc);
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  const { database } = await client.databases.createIfNotExists({ id: "bench" });
  const policy = { defaultLanguage: "en-US", fullTextPaths: [{ path: "/text" }] };
  const containers = {
    indexed: (await database.containers.createIfNotExists({ id: "indexed", partitionKey: { paths: ["/pk"] }, fullTextPolicy: policy,
      indexingPolicy: { fullTextIndexes: [{ path: "/text" }] } })).container,
    plain: (await database.containers.createIfNotExists({ id: "plain", partitionKey: { paths: ["/pk"] }, fullTextPolicy: policy })).container,
  };
  const queries = [
    ["FullTextContains, a rare word", "SELECT VALUE c.id FROM c WHERE FullTextContains(c.text, 'w190')"],
    ["FullTextContains, a phrase of two common words", "SELECT VALUE c.id FROM c WHERE FullTextContains(c.text, 'red bicycle')"],
    ["TOP 10 ORDER BY RANK FullTextScore", "SELECT TOP 10 c.id FROM c ORDER BY RANK FullTextScore(c.text, 'red', 'w17')"],
  ];
  const answers = {};
  for (const [name, container] of Object.entries(containers)) {
    const cpu0 = cpuSeconds(proc.pid);
    for (let i = 0; i < ITEMS; i += 100) {
      const ops = [];
      for (let j = i; j < Math.min(ITEMS, i + 100); j++)
        ops.push({ operationType: BulkOperationType.Create, partitionKey: `p${j % 100}`, resourceBody: { id: `item-${j}`, pk: `p${j % 100}`, n: j, text: text(j) } });
      await container.items.executeBulkOperations(ops);
    }
    const write = { container: name, step: "bulk create", count: ITEMS, server_cpu_us_per_op: (cpuSeconds(proc.pid) - cpu0) / ITEMS * 1e6 };
    rows.push(write);
    console.log(`${name.padEnd(8)} ${"bulk create".padEnd(48)} ${write.server_cpu_us_per_op.toFixed(1)} µs server CPU per item`);
    for (const [label, sql] of queries) {
      const c0 = cpuSeconds(proc.pid), t0 = Date.now();
      let n = null, error = null;
      for (let r = 0; r < REPS && !error; r++) {
        const res = await Promise.race([container.items.query(sql, { maxItemCount: 1000 }).fetchAll(),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`over ${DEADLINE_MS} ms`)), DEADLINE_MS))]).catch((e) => ({ error: String(e.message).slice(0, 200) }));
        if (res.error) error = res.error; else n = res.resources.length;
        if (!error) answers[`${label}/${name}`] = JSON.stringify(sql.includes("ORDER BY") ? res.resources : [...res.resources].sort());  // no ORDER BY: any order
      }
      const row = { container: name, step: label, reps: REPS, rows: n, error, server_cpu_ms_per_query: (cpuSeconds(proc.pid) - c0) / REPS * 1000,
        wall_ms_per_query: (Date.now() - t0) / REPS, load1: loadavg()[0] };
      rows.push(row);
      console.log(`${name.padEnd(8)} ${label.padEnd(48)} ${String(n).padStart(6)} rows, ${row.server_cpu_ms_per_query.toFixed(2)} ms server CPU, ${row.wall_ms_per_query.toFixed(1)} ms per query${error ? "  ERROR " + error : ""}`);
    }
  }
  for (const [label] of queries) {
    const same = answers[`${label}/indexed`] === answers[`${label}/plain`];
    const a = rows.find((r) => r.container === "indexed" && r.step === label), b = rows.find((r) => r.container === "plain" && r.step === label);
    console.log(`ratio plain/indexed ${label.padEnd(48)} ${(b.server_cpu_ms_per_query / Math.max(a.server_cpu_ms_per_query, 1e-9)).toFixed(2)}x server CPU; same rows: ${same}`);
  }
  const w = rows.filter((r) => r.step === "bulk create");
  console.log(`ratio indexed/plain bulk create ${(w[0].server_cpu_us_per_op / w[1].server_cpu_us_per_op).toFixed(2)}x server CPU per item`);
  if (args.out) { mkdirSync(args.out, { recursive: true }); writeFileSync(join(args.out, "fulltext_query.json"), JSON.stringify({ items: ITEMS, reps: REPS, rows }, null, 1)); }
} finally {
  proc.kill("SIGTERM");
  await new Promise((r) => proc.exitCode !== null ? r() : proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
