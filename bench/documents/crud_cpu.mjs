// Server CPU per item operation (issue 9's target: Nimbus <= 1/4 of @vercel/cosmosdb-server's
// for create, point read, upsert, replace with If-Match and delete, every Nimbus write
// fsync-durable), with the official @azure/cosmos and the same script for both servers.
//
// Per round and server: a fresh server, one container (partition key /pk, 100 partitions),
// then five bounded phases of --ops operations each, --inflight at a time: create, read,
// upsert, replace with If-Match (the etag the upsert returned), delete. Server CPU per phase is
// utime+stime of the server process from /proc/<pid>/stat (10 ms ticks; --ops keeps a phase at
// tens of ticks). Rounds alternate which server goes first. Loopback only.
//
// --floor adds a third server: nginx (one worker) answering every request of the script with a
// fixed answer and touching no data. It is the transport's floor on this machine for this
// client: the server CPU an efficient C server spends only to receive and answer each request.
// No store can cost less per operation than this floor, so a target below it is out of reach.
//
// --durable-floor adds docs_durable_floor (bench/documents/durable_floor.cc): the same fixed
// answers from one epoll thread, but every write is appended to a log and fdatasynced before
// its answer, writes of one wake-up sharing one fdatasync. It is the floor of any server whose
// writes are durable when acknowledged: what is left above it is the store's own work (the
// parse, the signature check, the row and its index entries).
//
// Run from the repository root (peers from bench/install-peers.sh):
//   node bench/documents/crud_cpu.mjs [--ops 3000] [--inflight 32] [--rounds 2]
//        [--nimbus-bin build/release/nimbus-docs-server] [--out DIR] [--only nimbus|peer]
//        [--threads] [--floor] [--durable-floor] [--durable-floor-bin build/release/bench/docs_durable_floor]
//        [--sync full|normal|off] [--log-level Information] [--indexing none]
// --indexing none creates the container with indexingMode "none" (no index entries to keep):
// what a write costs Nimbus without its range index, every other step the same.
// --log-level Information shows nimbus-docs-server's last line, the group commit's count of
// transactions over the run (operations per commit).
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, mkdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, loadavg, cpus } from "node:os";
import { join } from "node:path";
import { requireE2e, KEY, cpuSeconds, freePort, waitListening, median } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith("--") && !["--threads", "--floor", "--durable-floor"].includes(a) ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const OPS = Number(args.ops ?? 3000);
const INFLIGHT = Number(args.inflight ?? 32);
const ROUNDS = Number(args.rounds ?? 2);
const NIMBUS_BIN = args["nimbus-bin"] ?? "build/release/nimbus-docs-server";
const PEER_CLI = "bench/peers/node_modules/@vercel/cosmosdb-server/lib/cli.js";
const OUT = args.out;
const ONLY = args.only;  // "nimbus" or "peer": one server (profiling); default both
// Nimbus's --sync: full is the target's condition; normal and off show what the fsync costs
// (the group-commit window is only used under full, so they also show unwindowed batches).
const SYNC = args.sync ?? "full";
const INDEXING = args.indexing ?? "consistent";
if (!["consistent", "none"].includes(INDEXING)) throw new Error(`--indexing ${INDEXING}: use consistent or none`);
const FLOOR = process.argv.includes("--floor");
const NGINX = "/usr/sbin/nginx";
const DURABLE_FLOOR = process.argv.includes("--durable-floor");
const DURABLE_FLOOR_BIN = args["durable-floor-bin"] ?? "build/release/bench/docs_durable_floor";
const PHASE_DEADLINE_MS = 120000;  // a phase that takes longer is cut and reported as such

// --threads: per phase, each server thread's CPU and context switches per operation (from
// /proc/<pid>/task/<tid>/{stat,status}), to see which thread a write's cost lands on and how
// often each sleeps and wakes for it.
const THREADS = process.argv.includes("--threads");
function threadStats(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const num = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)[1]);
      out[tid] = { name, cpu: cpuSeconds(pid, `/proc/${pid}/task/${tid}/stat`),
        vol: num("voluntary_ctxt_switches"), invol: num("nonvoluntary_ctxt_switches") };
    } catch { /* the thread ended */ }
  }
  return out;
}

// The floor's answers: what the SDK needs to go on (the account, the database and container
// definitions, then any item), fixed, so nginx does no work but HTTP.
function floorConf(dir, port) {
  const q = (o) => `'${JSON.stringify(o)}'`;
  const loc = [{ name: "floor", databaseAccountEndpoint: `http://127.0.0.1:${port}/` }];
  const account = { id: "floor", _self: "", writableLocations: loc, readableLocations: loc,
    enableMultipleWriteLocations: false, userConsistencyPolicy: { defaultConsistencyLevel: "Session" } };
  const item = { id: "item", pk: "p0", n: 0, v: 0, tag: "t0", name: "name 0", _rid: "AAAAAAAAAAABAAAAAAAAAA==", _etag: "e1", _ts: 1 };
  // One process (no master), so /proc/<pid> of the spawned process is the server; keep-alive
  // for the whole run; PUT answers 201, since nginx would test the SDK's If-Match against its
  // own (absent) ETag on a 200 and answer 412.
  return `master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/body;
  server {
    listen 127.0.0.1:${port};
    default_type application/json;
    location = / { return 200 ${q(account)}; }
    location = /dbs/bench { return 200 ${q({ id: "bench", _rid: "AAAAAA==", _self: "dbs/AAAAAA==/", _etag: "e1", _ts: 1 })}; }
    location = /dbs/bench/colls/items { return 200 ${q({ id: "items", partitionKey: { paths: ["/pk"], kind: "Hash", version: 2 }, _rid: "AAAAAAAAAAA=", _etag: "e1", _ts: 1 })}; }
    location /dbs/bench/colls/items/docs {
      if ($request_method = DELETE) { return 204; }
      if ($request_method = GET) { return 200 ${q(item)}; }
      return 201 ${q(item)};
    }
  }
}
`;
}

async function startServer(kind) {
  const port = await freePort();
  let proc, dir;
  if (kind === "nimbus") {
    dir = mkdtempSync(join(tmpdir(), "nimbus-crud-cpu-"));
    proc = spawn(NIMBUS_BIN, ["--port", String(port), "--data", dir, "--sync", SYNC, "--log-level", args["log-level"] ?? "Warning"], { stdio: ["ignore", "ignore", "pipe"] });
  } else if (kind === "floor") {
    dir = mkdtempSync(join(tmpdir(), "nimbus-crud-floor-"));
    writeFileSync(join(dir, "nginx.conf"), floorConf(dir, port));
    proc = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
  } else if (kind === "durable") {
    dir = mkdtempSync(join(tmpdir(), "nimbus-crud-durable-floor-"));
    proc = spawn(DURABLE_FLOOR_BIN, [String(port), join(dir, "log")], { stdio: ["ignore", "ignore", "pipe"] });
  } else {
    proc = spawn(process.execPath, [PEER_CLI, "-p", String(port), "--no-ssl"], { stdio: ["ignore", "ignore", "pipe"] });
  }
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  await waitListening(port, proc);
  return {
    port, proc, stderr: () => stderr,
    async stop() {
      const exited = new Promise((r) => proc.on("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill("SIGKILL"); await exited; }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function pool(n, f) {
  let next = 0, errors = 0, firstError = "";
  const end = Date.now() + PHASE_DEADLINE_MS;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (next < n && Date.now() < end) {
      const i = next++;
      try { await f(i); } catch (e) { errors++; if (!firstError) firstError = `${e.code ?? ""} ${String(e.message).slice(0, 200)}`; }
    }
  }));
  return { done: Math.min(next, n), errors, firstError };
}

async function runOne(kind, round) {
  const server = await startServer(kind);
  const rows = [];
  try {
    const client = new CosmosClient({ endpoint: `http://127.0.0.1:${server.port}/`, key: KEY,
      connectionPolicy: { enableEndpointDiscovery: false } });
    const { database } = await client.databases.createIfNotExists({ id: "bench" });
    const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] },
      ...(INDEXING === "none" ? { indexingPolicy: { indexingMode: "none", automatic: false } } : {}) });
    const doc = (i, v) => ({ id: `item-${i}`, pk: `p${i % 100}`, n: i, v, tag: `t${i % 37}`, name: `name ${i}` });
    const etags = new Array(OPS);
    const phases = [
      ["create", (i) => container.items.create(doc(i, 0))],
      ["read", async (i) => { const r = await container.item(`item-${i}`, `p${i % 100}`).read(); if (r.statusCode !== 200) throw new Error(`read ${r.statusCode}`); }],
      ["upsert", async (i) => { const r = await container.items.upsert(doc(i, 1)); etags[i] = r.etag; }],
      ["replace If-Match", (i) => container.item(`item-${i}`, `p${i % 100}`).replace(doc(i, 2), { accessCondition: { type: "IfMatch", condition: etags[i] } })],
      ["delete", (i) => container.item(`item-${i}`, `p${i % 100}`).delete()],
    ];
    for (const [name, f] of phases) {
      const cpu0 = cpuSeconds(server.proc.pid);
      const threads0 = THREADS ? threadStats(server.proc.pid) : null;
      const t0 = process.hrtime.bigint();
      const r = await pool(OPS, f);
      const threads1 = THREADS ? threadStats(server.proc.pid) : null;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = cpuSeconds(server.proc.pid) - cpu0;
      const ok = r.done - r.errors;
      const row = { round, server: kind, op: name, ops: r.done, errors: r.errors, first_error: r.firstError,
        seconds: ms / 1000, ops_per_s: ok / (ms / 1000), server_cpu_s: cpu,
        server_cpu_us_per_op: ok > 0 ? (cpu / ok) * 1e6 : null, load1: loadavg()[0] };
      if (THREADS && ok > 0) {
        row.threads = Object.entries(threads1).filter(([tid]) => threads0[tid]).map(([tid, t]) => ({
          tid, name: t.name, cpu_us_per_op: ((t.cpu - threads0[tid].cpu) / ok) * 1e6,
          voluntary_per_op: (t.vol - threads0[tid].vol) / ok, involuntary_per_op: (t.invol - threads0[tid].invol) / ok }))
          .filter((t) => t.cpu_us_per_op > 0 || t.voluntary_per_op > 0.001);
        for (const t of row.threads)
          console.error(`    thread ${t.tid} ${t.name.padEnd(15)} ${t.cpu_us_per_op.toFixed(1)} µs/op, ` +
            `${t.voluntary_per_op.toFixed(3)} voluntary + ${t.involuntary_per_op.toFixed(3)} involuntary switches/op`);
      }
      rows.push(row);
      console.error(`round ${round} ${kind.padEnd(6)} ${name.padEnd(17)} ${ok}/${OPS} ok, ${r.errors} errors, ` +
        `${row.ops_per_s.toFixed(0)}/s, ${row.server_cpu_us_per_op?.toFixed(1)} µs server CPU/op` +
        (r.firstError ? ` (first error: ${r.firstError})` : ""));
    }
  } finally {
    await server.stop();
    if (server.stderr().trim()) console.error(`${kind} stderr: ${server.stderr().trim().slice(0, 2000)}`);
  }
  return rows;
}

const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? ["nimbus", "peer"] : ["peer", "nimbus"];
  if (FLOOR) order.splice(round % 3, 0, "floor");
  if (DURABLE_FLOOR) order.splice(round % (order.length + 1), 0, "durable");
  for (const kind of order) if (!ONLY || ONLY === kind) rows.push(...await runOne(kind, round));
}
const summary = {};
for (const op of [...new Set(rows.map((r) => r.op))]) {
  const of = (kind) => median(rows.filter((r) => r.op === op && r.server === kind).map((r) => r.server_cpu_us_per_op));
  summary[op] = { nimbus_us: of("nimbus"), peer_us: of("peer"), peer_over_nimbus: of("peer") / of("nimbus") };
  if (FLOOR) Object.assign(summary[op], { floor_us: of("floor"), nimbus_over_floor: of("nimbus") / of("floor") });
  if (DURABLE_FLOOR) Object.assign(summary[op], { durable_floor_us: of("durable"), nimbus_over_durable_floor: of("nimbus") / of("durable") });
}
const result = { ops: OPS, inflight: INFLIGHT, rounds: ROUNDS, rows, summary,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version } };
console.log(JSON.stringify(result, null, 1));
for (const [op, s] of Object.entries(summary))
  console.error(`median ${op.padEnd(17)} Nimbus ${s.nimbus_us.toFixed(1)} µs, cosmosdb-server ${s.peer_us.toFixed(1)} µs: ${s.peer_over_nimbus.toFixed(2)}x` +
    (FLOOR ? `; nginx fixed-answer floor ${s.floor_us.toFixed(1)} µs (Nimbus ${s.nimbus_over_floor.toFixed(2)}x the floor)` : "") +
    (DURABLE_FLOOR ? `; durable floor ${s.durable_floor_us.toFixed(1)} µs (target peer / 4 = ${(s.peer_us / 4).toFixed(1)} µs)` : ""));
if (OUT) { mkdirSync(OUT, { recursive: true }); writeFileSync(join(OUT, "crud_cpu.json"), JSON.stringify(result, null, 1)); }
