// What a vector index (indexingPolicy.vectorIndexes) saves a vector search: the same items in two
// containers of one server, one with a vector index on /e and one without, then TOP 10 ORDER BY
// VectorDistance (the service's form) and ORDER BY RANK VectorDistance over each with the
// official @azure/cosmos client. Server CPU per query from /proc (10 ms ticks: --reps keeps a
// step at tens of them), and whether both containers gave the same rows. Loopback only; every
// step bounded in count and the whole run in time.
//
//   node bench/documents/vector_query.mjs [--items 10000] [--dims 256] [--reps 20]
//        [--nimbus-bin build/release/nimbus-docs-server] [--out DIR]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { requireE2e, KEY, cpuSeconds, freePort, waitListening } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const ITEMS = Number(args.items ?? 10000);
const DIMS = Number(args.dims ?? 256);
const REPS = Number(args.reps ?? 20);
const BIN = args["nimbus-bin"] ?? "build/release/nimbus-docs-server";
const DEADLINE = Date.now() + 900000;  // the whole run
const bounded = () => { if (Date.now() > DEADLINE) throw new Error("over 900 s: stopped"); };

// Deterministic vectors (a 32-bit linear congruential generator), the same in both containers.
let seed = 12345;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296 - 0.5; };
const vector = () => Array.from({ length: DIMS }, rnd);

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "nimbus-vector-query-"));
const proc = spawn(BIN, ["--port", String(port), "--data", dir, "--log-level", "Warning", "--no-tls"], { stdio: ["ignore", "ignore", "inherit"] });
const rows = [];
try {
  await waitListening(port, proc);
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  const { database } = await client.databases.createIfNotExists({ id: "bench" });
  const embeddings = { vectorEmbeddings: [{ path: "/e", dataType: "float32", distanceFunction: "cosine", dimensions: DIMS }] };
  const containers = {};
  for (const [name, vectorIndexes] of [["indexed", [{ path: "/e", type: "quantizedFlat" }]], ["plain", undefined]]) {
    const { container } = await database.containers.createIfNotExists({ id: name, partitionKey: { paths: ["/pk"] },
      vectorEmbeddingPolicy: embeddings,
      // The vector itself out of the range index, as the service's docs ask.
      indexingPolicy: { excludedPaths: [{ path: "/e/*" }], ...(vectorIndexes ? { vectorIndexes } : {}) } });
    containers[name] = container;
  }
  // Both containers get each item in turn, so neither is the later-written one.
  const c0 = cpuSeconds(proc.pid);
  for (let i = 0; i < ITEMS; i += 50) {
    bounded();
    const batch = Array.from({ length: Math.min(50, ITEMS - i) }, (_, j) => ({ id: `i${i + j}`, pk: `p${(i + j) % 100}`, n: i + j, e: vector() }));
    await Promise.all(batch.flatMap((item) => [containers.indexed.items.create(item), containers.plain.items.create(item)]));
  }
  console.error(`loaded ${ITEMS} items of ${DIMS} numbers into both containers (${((cpuSeconds(proc.pid) - c0) / (2 * ITEMS) * 1e6).toFixed(0)} µs of server CPU per create)`);
  const queries = [
    ["TOP 10 ORDER BY VectorDistance", "SELECT TOP 10 c.id, VectorDistance(c.e, @q) AS score FROM c ORDER BY VectorDistance(c.e, @q)"],
    ["TOP 10 ORDER BY RANK VectorDistance", "SELECT TOP 10 c.id FROM c ORDER BY RANK VectorDistance(c.e, @q)"],
  ];
  const q = vector();
  const answers = {};
  for (const [label, text] of queries) {
    for (const name of ["indexed", "plain"]) {
      bounded();
      const cpu0 = cpuSeconds(proc.pid), t0 = Date.now();
      let got = null, error = null;
      for (let r = 0; r < REPS && Date.now() < DEADLINE; r++) {
        try {
          got = (await containers[name].items.query({ query: text, parameters: [{ name: "@q", value: q }] }).fetchAll()).resources;
        } catch (e) { error = `${e.code ?? ""} ${String(e.message).slice(0, 200)}`; break; }
      }
      const row = { container: name, query: label, reps: REPS, rows: got?.length ?? 0, error,
        server_cpu_ms_per_query: (cpuSeconds(proc.pid) - cpu0) / REPS * 1000, wall_ms_per_query: (Date.now() - t0) / REPS, load1: loadavg()[0] };
      rows.push(row);
      answers[`${label}/${name}`] = JSON.stringify(got?.map((x) => x.id));
      console.error(`${name.padEnd(8)} ${label.padEnd(36)} ${row.rows} rows, ${row.server_cpu_ms_per_query.toFixed(2)} ms server CPU, ${row.wall_ms_per_query.toFixed(1)} ms wall per query${error ? ` (error: ${error})` : ""}`);
    }
    const of = (n) => rows.find((r) => r.query === label && r.container === n).server_cpu_ms_per_query;
    const same = answers[`${label}/indexed`] === answers[`${label}/plain`];
    rows.push({ ratio: `plain/indexed ${label}`, value: of("plain") / of("indexed"), same_rows: same });
    console.error(`ratio plain/indexed ${label.padEnd(36)} ${(of("plain") / of("indexed")).toFixed(1)}x server CPU; same rows: ${same}`);
  }
} finally {
  proc.kill("SIGTERM");
  await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
const result = { items: ITEMS, dims: DIMS, reps: REPS, rows };
console.log(JSON.stringify(result, null, 1));
if (args.out) { mkdirSync(args.out, { recursive: true }); writeFileSync(join(args.out, "vector_query.json"), JSON.stringify(result, null, 1)); }
