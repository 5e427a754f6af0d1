// Side-by-side cost of the queue service, driven by the official @azure/storage-queue SDK with
// the same script against Nimbus (nimbus-queue-server, SQLite, synchronous=FULL) and Azurite
// 3.35 (in memory, and on disk with --location). Measures the SERVER process's CPU seconds
// (utime+stime from /proc/<pid>/stat, before and after each phase), wall time and latency.
//
//   node bench/queue/sdk_compare.mjs [--puts 10000] [--drain 20000] [--phase-seconds 90]
//        [--azurite-phase-seconds S] [--targets nimbus,azurite-memory,azurite-disk] [--json-out FILE]
//        [--baseline-bin PATH]   (adds the target nimbus-baseline: another nimbus-queue-server build)
//
// Phases (each bounded by its count AND --phase-seconds; a phase that hits the time bound
// reports what it did and the per-10,000 figure extrapolated from it, flagged "partial"):
//   put      N puts, 64 in flight
//   getdel   get 32 + delete each, 8 loops, until N messages deleted
//   drain    fill D messages, then get 32 + delete with 8 loops: messages/s
//   latency  200 sequential puts and 200 sequential get(1)+delete: p50/p99 ms
// Loopback only; prints a Markdown table and one JSON line per target; --json-out also writes
// them all, with the command line, to FILE. A target that fails (e.g. Azurite not installed)
// is a result with its error, not a missing row; failed SDK calls are counted per target.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const e2e = join(root, "tests", "e2e");
const require = createRequire(join(e2e, "package.json"));
const { QueueServiceClient } = require("@azure/storage-queue");
const { startQueueServer, connectionString } = await import(join(e2e, "lib", "queue_server.mjs"));

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  (v.startsWith("--") ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const PUTS = Number(args.puts ?? 10000);
const DRAIN = Number(args.drain ?? 20000);
const PHASE_S = Number(args["phase-seconds"] ?? 90);
const AZ_PHASE_S = Number(args["azurite-phase-seconds"] ?? PHASE_S);
const TARGETS = (args.targets ?? ("nimbus,azurite-memory,azurite-disk" + (args["baseline-bin"] ? ",nimbus-baseline" : ""))).split(",");
let phaseSeconds = PHASE_S;

const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;  // utime + stime, in clock ticks of 1/100 s
};
// utime and stime apart, context switches of every thread, and read/write-family syscalls.
const counters = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  let cs = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const m of readFileSync(`/proc/${pid}/task/${t}/status`, "utf8").matchAll(/voluntary_ctxt_switches:\s+(\d+)/g)) cs += Number(m[1]);
    } catch {}
  }
  let rw = 0;
  try { for (const m of readFileSync(`/proc/${pid}/io`, "utf8").matchAll(/^sysc[rw]:\s+(\d+)/gm)) rw += Number(m[1]); } catch {}
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100, cs, rw };
};
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0; };

async function startAzurite(disk) {
  const dir = mkdtempSync(join(tmpdir(), "azurite-bench-"));
  // Azurite is a benchmark peer: bench/run.sh installs it into bench/peers/node_modules.
  const bin = join(root, "bench", "peers", "node_modules", "azurite", "dist", "src", "queue", "main.js");
  const port = 20000 + Math.floor(Math.random() * 20000);
  const a = ["--queueHost", "127.0.0.1", "--queuePort", String(port), "--skipApiVersionCheck", "--disableTelemetry", "--silent"];
  if (disk) a.push("--location", dir); else a.push("--inMemoryPersistence");
  const proc = spawn(process.execPath, [bin, ...a], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  const exited = new Promise((r) => proc.on("exit", r));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("azurite did not start in 20 s")), 20000);
    proc.stdout.on("data", (d) => { if (/successfully listens/.test(String(d))) { clearTimeout(t); resolve(); } });
    const poll = setInterval(async () => {
      try { await fetch(`http://127.0.0.1:${port}/devstoreaccount1?comp=list`); clearInterval(poll); clearTimeout(t); resolve(); } catch {}
    }, 200);
    proc.on("exit", (c) => reject(new Error(`azurite exited ${c}`)));
  });
  return { port, proc, async stop() { proc.kill("SIGTERM"); await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]); proc.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); } };
}

let errors = 0;
async function pool(n, deadline, fn) {
  // A failed call (e.g. a peer resetting a slow connection) is counted, not fatal.
  await Promise.all(Array.from({ length: n }, async () => {
    for (;;) {
      if (Date.now() >= deadline) return;
      try { if (!(await fn())) return; } catch { errors++; if (errors > 1000) return; }
    }
  }));
}

async function fill(q, count, deadline) {
  let next = 0, done = 0;
  await pool(64, deadline, async () => { if (next >= count) return false; next++; await q.sendMessage("x".repeat(64)); done++; return true; });
  return done;
}

async function drain(q, count, deadline) {
  let deleted = 0, empty = 0;
  await pool(8, deadline, async () => {
    if (deleted >= count || empty > 16) return false;
    const got = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 });
    if (got.receivedMessageItems.length === 0) { empty++; return true; }
    for (const m of got.receivedMessageItems) { await q.deleteMessage(m.messageId, m.popReceipt); deleted++; }
    return true;
  });
  return deleted;
}

async function phase(pid, fn) {
  const k0 = counters(pid), t0 = performance.now();
  const done = await fn(Date.now() + phaseSeconds * 1000);
  const k1 = counters(pid);
  const user = k1.user - k0.user, sys = k1.sys - k0.sys;
  return { done, cpu: user + sys, user, sys, ctx_switches: k1.cs - k0.cs, rw_syscalls: k1.rw - k0.rw,
           secs: (performance.now() - t0) / 1000 };
}

async function runTarget(name) {
  phaseSeconds = name.startsWith("nimbus") ? PHASE_S : AZ_PHASE_S;
  let srv, pid;
  if (name === "nimbus") { srv = await startQueueServer(); pid = srv.proc.pid; }
  else if (name === "nimbus-baseline") {
    // Another build of nimbus-queue-server (e.g. the commit before a change), same script.
    const saved = process.env.NIMBUS_QUEUE_SERVER_BIN;
    process.env.NIMBUS_QUEUE_SERVER_BIN = args["baseline-bin"];
    try { srv = await startQueueServer(); } finally {
      if (saved === undefined) delete process.env.NIMBUS_QUEUE_SERVER_BIN; else process.env.NIMBUS_QUEUE_SERVER_BIN = saved;
    }
    pid = srv.proc.pid;
  }
  else { srv = await startAzurite(name === "azurite-disk"); pid = srv.proc.pid; }
  const svc = QueueServiceClient.fromConnectionString(connectionString(srv.port), { retryOptions: { maxTries: 3 } });
  const r = { target: name, phase_seconds: phaseSeconds };
  try {
    const q = svc.getQueueClient("bench-put");
    await q.create();
    const put = await phase(pid, (dl) => fill(q, PUTS, dl));
    r.put = { ...put, cpu_per_10k: put.cpu / put.done * 10000, ops_per_s: put.done / put.secs, partial: put.done < PUTS,
              us_per_put: put.cpu / put.done * 1e6, user_us_per_put: put.user / put.done * 1e6, sys_us_per_put: put.sys / put.done * 1e6,
              ctx_switches_per_put: put.ctx_switches / put.done, rw_syscalls_per_put: put.rw_syscalls / put.done };
    const gd = await phase(pid, (dl) => drain(q, PUTS, dl));
    r.getdel = { ...gd, cpu_per_10k: gd.cpu / gd.done * 10000, ops_per_s: gd.done / gd.secs, partial: gd.done < PUTS };

    const d = svc.getQueueClient("bench-drain");
    await d.create();
    const filled = await fill(d, DRAIN, Date.now() + phaseSeconds * 1000);
    const dr = await phase(pid, (dl) => drain(d, filled, dl));
    r.drain = { depth: filled, ...dr, msgs_per_s: dr.done / dr.secs, partial: dr.done < filled };

    const l = svc.getQueueClient("bench-latency");
    await l.create();
    const putMs = [], gdMs = [];
    const lend = Date.now() + phaseSeconds * 1000;
    for (let i = 0; i < 200 && Date.now() < lend; i++) { const t = performance.now(); await l.sendMessage("x"); putMs.push(performance.now() - t); }
    for (let i = 0; i < 200 && Date.now() < lend; i++) {
      const t = performance.now();
      const got = await l.receiveMessages();
      const m = got.receivedMessageItems[0];
      if (!m) break;
      await l.deleteMessage(m.messageId, m.popReceipt);
      gdMs.push(performance.now() - t);
    }
    r.latency = { put_p50: pct(putMs, 0.5), put_p99: pct(putMs, 0.99), getdel_p50: pct(gdMs, 0.5), getdel_p99: pct(gdMs, 0.99) };
    r.errors = errors;
    errors = 0;
    r.rss_mb = Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;
  } finally {
    await srv.stop();
    if (srv.cleanup) srv.cleanup();
  }
  return r;
}

let commit = "unknown";
try { commit = execSync("git rev-parse HEAD", { cwd: root, encoding: "utf8" }).trim(); } catch {}
const command = `node ${process.argv.slice(1).join(" ")}`;
const serverBin = process.env.NIMBUS_QUEUE_SERVER_BIN || "build/release/nimbus-queue-server";
console.log(`# commit ${commit}; ${new Date().toISOString()}; load average ${readFileSync("/proc/loadavg", "utf8").trim()}`);
console.log(`# command: ${command} (nimbus-queue-server: ${serverBin})`);
const results = [];
for (const t of TARGETS) {
  process.stderr.write(`running ${t} ...\n`);
  let r;
  try {
    r = await runTarget(t);
  } catch (e) {
    r = { target: t, error: String(e && e.stack || e) };
    errors = 0;
  }
  console.log(JSON.stringify(r));
  results.push(r);
}
if (args["json-out"]) {
  writeFileSync(args["json-out"], JSON.stringify({ commit, command, server_bin: serverBin, results }, null, 1));
}
const f = (x, d = 2) => (x === undefined ? "-" : Number(x).toFixed(d));
console.log("\n| target | CPU s / 10k puts | µs/put user+sys | ctx switches/put | puts/s | CPU s / 10k get+delete | get+delete/s | drain msgs/s (depth) | put p50/p99 ms | get+delete p50/p99 ms | RSS MB | failed calls |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  if (r.error || !r.latency) { console.log(`| ${r.target} | error: ${String(r.error ?? "incomplete").split("\n")[0]} |`); continue; }
  console.log(`| ${r.target} | ${f(r.put.cpu_per_10k)}${r.put.partial ? "*" : ""} | ${f(r.put.user_us_per_put, 0)}+${f(r.put.sys_us_per_put, 0)} | ${f(r.put.ctx_switches_per_put)} | ${f(r.put.ops_per_s, 0)} | ${f(r.getdel.cpu_per_10k)}${r.getdel.partial ? "*" : ""} | ${f(r.getdel.ops_per_s, 0)} | ${f(r.drain.msgs_per_s, 1)}${r.drain.partial ? "*" : ""} (${r.drain.depth}) | ${f(r.latency.put_p50)} / ${f(r.latency.put_p99)} | ${f(r.latency.getdel_p50)} / ${f(r.latency.getdel_p99)} | ${f(r.rss_mb, 0)} | ${r.errors} |`);
}
console.log("\n* partial: the phase hit its time bound; the per-10k CPU figure is extrapolated from what it did.");
// Same-run ratios: how many times more server CPU per put (and per get+delete) each peer spends.
const nimbus = results.find((r) => r.target === "nimbus" && r.put);
if (nimbus) {
  for (const r of results) {
    if (r === nimbus || !r.put) continue;
    console.log(`${r.target} ÷ nimbus, server CPU per put: ${f(r.put.cpu_per_10k / nimbus.put.cpu_per_10k, 1)}x` +
      (r.getdel ? `; per get+delete: ${f(r.getdel.cpu_per_10k / nimbus.getdel.cpu_per_10k, 0)}x` : "") +
      (r.drain ? `; drain rate nimbus ÷ ${r.target}: ${f(nimbus.drain.msgs_per_s / r.drain.msgs_per_s, 0)}x` : ""));
  }
}
