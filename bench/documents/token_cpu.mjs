// Server CPU per point read made with a permission's resource token against the same reads
// made with the master key, through the official @azure/cosmos, in one run against one
// nimbus-docs-server (loopback only; every phase bounded by its count and a deadline).
// A resource-token request also looks its permission up in the store (what it grants now), so
// this is what that check costs.
//   node bench/documents/token_cpu.mjs [--reads 5000] [--rounds 3] [--nimbus-bin PATH] [--out DIR]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";

import { requireE2e, KEY, cpuSeconds, freePort, waitListening } from "./lib.mjs";

const { CosmosClient, PermissionMode } = requireE2e("@azure/cosmos");
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const READS = Number(args.reads ?? 5000);
const ROUNDS = Number(args.rounds ?? 3);
const BIN = args["nimbus-bin"] ?? "build/release/nimbus-docs-server";
const PHASE_DEADLINE_MS = 120000;

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "nimbus-token-cpu-"));
const proc = spawn(BIN, ["--port", String(port), "--data", dir, "--log-level", "Warning"], { stdio: ["ignore", "ignore", "inherit"] });
const endpoint = `http://127.0.0.1:${port}/`;
const rows = [];
try {
  await waitListening(port, proc);
  const master = new CosmosClient({ endpoint, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  const { database } = await master.databases.createIfNotExists({ id: "bench" });
  const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] } });
  for (let i = 0; i < 100; i++) await container.items.upsert({ id: `item-${i}`, pk: `p${i % 10}`, n: i });
  await database.users.upsert({ id: "reader" });
  const { resource: perm } = await database.user("reader").permissions.upsert({ id: "read-items", permissionMode: PermissionMode.Read, resource: container.url });
  const token = new CosmosClient({ endpoint, resourceTokens: { [container.url]: perm._token }, connectionPolicy: { enableEndpointDiscovery: false } });
  const clients = { "master key": master, "resource token": token };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? ["master key", "resource token"] : ["resource token", "master key"];
    for (const auth of order) {
      const c = clients[auth].database("bench").container("items");
      let next = 0, errors = 0, first_error = null;
      const cpu0 = cpuSeconds(proc.pid), t0 = Date.now();
      const deadline = t0 + PHASE_DEADLINE_MS;
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < READS && Date.now() < deadline) {
          const i = next++ % 100;
          try { await c.item(`item-${i}`, `p${i % 10}`).read(); } catch (e) { errors++; first_error ??= String(e.message).slice(0, 200); }
        }
      }));
      const row = { round, auth, reads: next, errors, first_error, seconds: (Date.now() - t0) / 1000,
        server_cpu_us_per_read: ((cpuSeconds(proc.pid) - cpu0) / next) * 1e6, load1: loadavg()[0] };
      rows.push(row);
      console.log(`round ${round} ${auth.padEnd(15)} ${row.server_cpu_us_per_read.toFixed(1)} µs of server CPU per read, ${row.reads} reads, ${errors} errors${first_error ? " (" + first_error + ")" : ""}`);
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const m = median(rows.filter((r) => r.auth === "master key").map((r) => r.server_cpu_us_per_read));
  const t = median(rows.filter((r) => r.auth === "resource token").map((r) => r.server_cpu_us_per_read));
  console.log(`median: master key ${m.toFixed(1)} µs, resource token ${t.toFixed(1)} µs per read (token / key ${(t / m).toFixed(2)})`);
  if (args.out) {
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, "token_cpu.json"), JSON.stringify({ reads: READS, rounds: ROUNDS, rows, median_master_us: m, median_token_us: t }, null, 2));
  }
} finally {
  // Waits for the exit, up to 5 s, then kills.
  if (proc.exitCode === null) {
    const exited = new Promise((r) => proc.once("exit", () => r(true)));
    proc.kill("SIGTERM");
    let timer;
    const ok = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r(false), 5000); })]);
    clearTimeout(timer);
    if (!ok) proc.kill("SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(rows.some((r) => r.errors) ? 1 : 0);
