// Point reads over HTTPS keep-alive vs plain HTTP on the same nimbus-docs-server port, in one
// run: requests/s and the server's CPU per read (utime+stime from /proc/<pid>/stat). Rounds
// alternate http and https so machine noise falls on both. Loopback only; bounded in time
// (seconds per round) and in count (maxRequests per round).
//
//   node bench/documents/tls_point_read.mjs [--bin build/release/nimbus-docs-server]
//        [--seconds 5] [--rounds 3] [--connections 16] [--max-requests 500000] [--out DIR]
//        [--only http|https]
//
// The server's pid is printed on stderr first, for attaching a profiler (--only: one scheme).
//
// The client signs one request up front (the signature holds for 15 minutes) and sends it
// again and again from `connections` loops, each on its own kept-alive socket, so the
// client's own cost per read is small and the same for both schemes.
import http from "node:http";
import https from "node:https";
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir, loadavg, cpus } from "node:os";
import { join } from "node:path";
import { KEY, cpuSeconds, root } from "./lib.mjs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const bin = args.bin || join(root, "build", "release", "nimbus-docs-server");
const seconds = Number(args.seconds || 5);
const rounds = Number(args.rounds || 3);
const connections = Number(args.connections || 16);
const maxRequests = Number(args["max-requests"] || 500000);
const schemes = args.only ? [args.only] : ["http", "https"];
if (!schemes.every((x) => x === "http" || x === "https")) throw new Error("--only http or --only https");
if (!(seconds > 0 && seconds <= 60 && rounds > 0 && rounds <= 10 && connections > 0 && connections <= 256))
  throw new Error("--seconds 1..60, --rounds 1..10, --connections 1..256");

function sign(method, type, link, date) {
  const text = `${method.toLowerCase()}\n${type}\n${link}\n${date.toLowerCase()}\n\n`;
  const sig = crypto.createHmac("sha256", Buffer.from(KEY, "base64")).update(text, "utf8").digest("base64");
  return encodeURIComponent(`type=master&ver=1.0&sig=${sig}`);
}

function headers(method, type, link, extra = {}) {
  const date = new Date().toUTCString();
  return { authorization: sign(method, type, link, date), "x-ms-date": date, "x-ms-version": "2020-07-15", ...extra };
}

function request(mod, agent, port, method, path, hdrs, body) {
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: "127.0.0.1", port, method, path, headers: hdrs, agent }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const dir = mkdtempSync(join(tmpdir(), "nimbus-tls-bench-"));
const proc = spawn(bin, ["--port", "0", "--data", dir, "--log-level", "Warning", "--sync", "normal"], { stdio: ["ignore", "pipe", "inherit"] });
console.error(`server pid ${proc.pid}`);
const { port, cert } = await new Promise((resolve, reject) => {
  let out = "";
  const timer = setTimeout(() => reject(new Error("server did not start in 10 s")), 10000);
  proc.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/listening on http:\/\/[^:]+:(\d+) and https:\/\/[^ ]+ \(certificate (.+)\)\n/);
    if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), cert: m[2] }); }
  });
  proc.on("exit", (c) => reject(new Error(`server exited with ${c}`)));
});

try {
  const setupAgent = new http.Agent({ keepAlive: true });
  const json = { "content-type": "application/json" };
  await request(http, setupAgent, port, "POST", "/dbs", headers("POST", "dbs", "", json), JSON.stringify({ id: "bench" }));
  await request(http, setupAgent, port, "POST", "/dbs/bench/colls", headers("POST", "colls", "dbs/bench", json),
    JSON.stringify({ id: "items", partitionKey: { paths: ["/pk"], kind: "Hash" } }));
  const doc = { id: "doc1", pk: "p", payload: "x".repeat(200) };
  const created = await request(http, setupAgent, port, "POST", "/dbs/bench/colls/items/docs",
    headers("POST", "docs", "dbs/bench/colls/items", { ...json, "x-ms-documentdb-partitionkey": '["p"]' }), JSON.stringify(doc));
  if (created.status !== 201) throw new Error(`create: ${created.status} ${created.body}`);
  setupAgent.destroy();

  const path = "/dbs/bench/colls/items/docs/doc1";
  const readHeaders = headers("GET", "docs", "dbs/bench/colls/items/docs/doc1", { "x-ms-documentdb-partitionkey": '["p"]' });
  const ca = readFileSync(cert);

  async function round(scheme, secs = seconds) {
    const mod = scheme === "https" ? https : http;
    const agent = scheme === "https"
      ? new https.Agent({ keepAlive: true, maxSockets: connections, ca })
      : new http.Agent({ keepAlive: true, maxSockets: connections });
    let count = 0, errors = 0;
    const cpu0 = cpuSeconds(proc.pid);
    const t0 = process.hrtime.bigint();
    const until = Date.now() + secs * 1000;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (Date.now() < until && count < maxRequests) {
        const r = await request(mod, agent, port, "GET", path, readHeaders);
        if (r.status === 200) count++; else errors++;
      }
    }));
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(proc.pid) - cpu0;
    agent.destroy();
    return { scheme, requests: count, errors, seconds: elapsed, rps: count / elapsed,
             server_cpu_s: cpu, server_cpu_us_per_read: (cpu / count) * 1e6,
             handshakes: scheme === "https" ? connections : 0, loadavg_1min: loadavg()[0] };
  }

  // An unrecorded second of each scheme first: page cache, the server's allocator, Node's JIT.
  for (const scheme of schemes) await round(scheme, 1);
  const rows = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? schemes : [...schemes].reverse();
    for (const scheme of order) {
      const row = { round: r + 1, ...(await round(scheme)) };
      rows.push(row);
      console.error(`${row.scheme.padEnd(5)} round ${row.round}: ${row.rps.toFixed(0)} req/s, ` +
                    `${row.server_cpu_us_per_read.toFixed(1)} µs server CPU/read, ${row.errors} errors`);
    }
  }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
  const summary = {};
  for (const scheme of schemes) {
    const mine = rows.filter((x) => x.scheme === scheme);
    summary[scheme] = { median_rps: median(mine.map((x) => x.rps)),
                        median_server_cpu_us_per_read: median(mine.map((x) => x.server_cpu_us_per_read)) };
  }
  if (schemes.length === 2) summary.https_over_http_rps = summary.https.median_rps / summary.http.median_rps;
  if (schemes.length === 2) summary.https_over_http_cpu = summary.https.median_server_cpu_us_per_read / summary.http.median_server_cpu_us_per_read;
  const result = {
    command: ["node", ...process.argv.slice(1)],
    config: { seconds, rounds, connections, maxRequests, document_bytes: JSON.stringify(doc).length },
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    rows, summary,
  };
  const text = JSON.stringify(result, null, 1);
  console.log(text);
  if (args.out) { mkdirSync(args.out, { recursive: true }); writeFileSync(join(args.out, "tls_point_read.json"), text + "\n"); }
} finally {
  proc.kill("SIGTERM");
  await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
