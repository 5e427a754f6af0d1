// The reference app's quality goals under faults (issue 11), measured on loopback:
//   node bench/moderation/quality.mjs --out DIR [--rate 20] [--seconds 60] [--fail 30]
//        [--hang 5] [--kill-every 10] [--steady 2] [--authors 250] [--cold-starts 10]
// 1. cold start: `nimbus start examples/moderation` on a fresh data directory until its first
//    answer to POST /api/posts (202), --cold-starts times;
// 2. load: --rate posts/s (10x the --steady rate) open-loop for --seconds against a host whose
//    Gemini provider is the double failing --fail % of calls (500) and hanging --hang %, with one
//    native worker process SIGKILLed every --kill-every s;
// 3. afterwards, until every accepted post is decided (bounded: 180 s): API latency p50/p99,
//    post -> first verdict p50/p99 (the post's createdAt -> moderation.firstDecidedAt, both
//    stamped by the app on this machine's clock), accepted posts moderated / pending-review /
//    lost, host RSS, and the Azure cost of the same work from the host's own metrics.
// Every loop is bounded in count and time. Writes summary.json and summary.txt into --out.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = process.env.NIMBUS_BIN || path.join(ROOT, "build/release/nimbus");
const OUT = args.out || fs.mkdtempSync(path.join(os.tmpdir(), "moderation-quality-"));
const RATE = Number(args.rate ?? 20);
const SECONDS = Number(args.seconds ?? 60);
const FAIL = Number(args.fail ?? 30);
const HANG = Number(args.hang ?? 5);
const KILL_EVERY = Number(args["kill-every"] ?? 10);
const STEADY = Number(args.steady ?? RATE / 10);
const AUTHORS = Number(args.authors ?? 250);
const COLD_STARTS = Number(args["cold-starts"] ?? 10);
// host.json nimbus.moderation overrides for the load run, as JSON ('{"attemptTimeout":"00:00:00.150"}').
const MODERATION = JSON.parse(args.moderation ?? "{}");
fs.mkdirSync(OUT, { recursive: true });
const log = (...a) => { const s = a.join(" "); console.log(s); fs.appendFileSync(path.join(OUT, "run.log"), s + "\n"); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(port, method, p, body, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: "127.0.0.1", port, path: p, method, agent,
      headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      let b = "";
      res.on("data", (d) => (b += d));
      res.on("end", () => {
        let json = null;
        try { json = JSON.parse(b); } catch {}
        resolve({ status: res.statusCode, json, body: b, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, error: e.message, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    req.end(body);
  });
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function copyApp(values, moderation = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "moderation-app-"));
  fs.cpSync(path.join(ROOT, "examples/moderation"), dir, { recursive: true });
  const hostFile = path.join(dir, "host.json");
  const hostJson = JSON.parse(fs.readFileSync(hostFile, "utf8"));
  Object.assign(hostJson.nimbus.moderation, moderation);
  fs.writeFileSync(hostFile, JSON.stringify(hostJson, null, 2));
  fs.writeFileSync(path.join(dir, "local.settings.json"),
    JSON.stringify({ IsEncrypted: false, Values: { REREVIEW_SCHEDULE: "*/5 * * * * *", ...values } }));
  return dir;
}

function startHost(app, data, logFile) {
  const out = fs.openSync(logFile, "a");
  const proc = spawn(BIN, ["start", app, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", data],
    { stdio: ["ignore", out, "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("host did not start in 20 s: " + err)); }, 20000);
    proc.stderr.on("data", (d) => {
      fs.appendFileSync(logFile, d);
      if (err.length < 1e6) err += d;
      const m = /Nimbus listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
      if (m && !proc.port) { proc.port = Number(m[1]); clearTimeout(timer); resolve(proc); }
    });
    proc.on("exit", (c) => { if (!proc.port) { clearTimeout(timer); reject(new Error(`host exited ${c}: ${err}`)); } });
  });
}
async function stopHost(proc) {
  if (proc.exitCode !== null || proc.signalCode) return;
  const done = new Promise((r) => proc.on("exit", r));
  proc.kill("SIGTERM");
  const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(t);
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch { return 0; }
}
function workers(pid) {
  try {
    return execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(pid)]).toString().trim().split("\n")
      .map((l) => l.trim().split(/\s+/)).filter(([, c]) => c && c.startsWith("nimbus-worker")).map(([p]) => Number(p));
  } catch { return []; }
}

// --- 1. cold start ---
async function coldStarts() {
  const app = copyApp({});
  const times = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), "moderation-cold-"));
    const t0 = process.hrtime.bigint();
    const proc = await startHost(app, data, path.join(OUT, "cold-start-host.log"));
    let r;
    for (let k = 0; k < 2000; k++) {  // bounded: 2,000 tries
      r = await request(proc.port, "POST", "/api/posts", JSON.stringify({ author: "cold", text: "first post" }));
      if (r.status === 202) break;
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await stopHost(proc);
    fs.rmSync(data, { recursive: true, force: true });
  }
  return times;
}

// --- 2. the Gemini double ---
async function startDouble() {
  const child = spawn(process.execPath, [path.join(ROOT, "tools/gemini-double/server.mjs"), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    child.on("exit", (c) => reject(new Error("double exited " + c)));
  });
  return { child, port };
}

function metrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
const sum = (m, prefix, filter = () => true) =>
  [...m].filter(([k]) => (k === prefix || k.startsWith(prefix + "{")) && filter(k)).reduce((a, [, v]) => a + v, 0);

async function main() {
  log(`commit ${execFileSync("git", ["-C", ROOT, "rev-parse", "--short=10", "HEAD"]).toString().trim()}`,
      `| ${os.cpus().length} cores | load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const cold = await coldStarts();
  log(`cold start to first 202 (ms, ${cold.length} runs): p50 ${pct(cold, 50).toFixed(1)} max ${Math.max(...cold).toFixed(1)}`);

  const dbl = await startDouble();
  await request(dbl.port, "POST", "/_double/faults", JSON.stringify({ spec: `fail=${FAIL},hangpct=${HANG}` }));
  const app = copyApp({ GEMINI_API_KEY: "bench-key", GEMINI_ENDPOINT: `http://127.0.0.1:${dbl.port}` }, MODERATION);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "moderation-load-"));
  const host = await startHost(app, data, path.join(OUT, "host.log"));
  log(`load: ${RATE} posts/s for ${SECONDS} s (10x a steady ${STEADY}/s), Gemini double fail=${FAIL}% hang=${HANG}%, ` +
      `a worker SIGKILLed every ${KILL_EVERY} s; nimbus.moderation ${JSON.stringify(MODERATION)}`);

  const accepted = [];
  const apiMs = [];
  const statuses = {};
  let rssMax = 0, kills = 0;
  const inflight = new Set();
  const t0 = Date.now();
  const end = t0 + SECONDS * 1000;
  const rssTimer = setInterval(() => { rssMax = Math.max(rssMax, rssMiB(host.pid)); }, 1000);
  const killTimer = KILL_EVERY > 0 ? setInterval(() => {
    const w = workers(host.pid);
    if (w.length) { try { process.kill(w[kills % w.length], "SIGKILL"); kills++; } catch {} }
  }, KILL_EVERY * 1000) : null;
  let n = 0;
  while (Date.now() < end) {  // open loop: post n is due at t0 + n / RATE
    const due = t0 + (n * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    const i = n++;
    const author = `author-${i % AUTHORS}`;
    const spam = i % 10 === 0;
    const text = spam ? `post ${i}: buy now, free money` : `post ${i}: a note about the analytical engine`;
    const p = request(host.port, "POST", "/api/posts", JSON.stringify({ author, text })).then((r) => {
      apiMs.push(r.ms);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 202) accepted.push({ id: r.json.id, author });
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  clearInterval(killTimer);
  log(`sent ${n} posts in ${((Date.now() - t0) / 1000).toFixed(1)} s; answers by status ${JSON.stringify(statuses)}; ` +
      `${kills} workers killed`);

  // --- 3. every accepted post decided? ---
  const byAuthor = new Map();
  for (const a of accepted) byAuthor.set(a.author, (byAuthor.get(a.author) ?? 0) + 1);
  const deadline = Date.now() + 180000;
  let decided = new Map();
  while (Date.now() < deadline) {
    decided = new Map();
    for (const author of byAuthor.keys()) {
      const r = await request(host.port, "GET", `/api/authors/${author}/posts`);
      for (const post of r.json?.posts ?? []) decided.set(post.id, post);
    }
    const pending = accepted.filter((a) => !decided.has(a.id) || decided.get(a.id).status === "pending").length;
    if (pending === 0) break;
    log(`  waiting: ${pending} accepted posts not decided yet`);
    await sleep(2000);
  }
  clearInterval(rssTimer);
  const byStatus = {};
  const toVerdict = [];
  let lost = 0, undecided = 0;
  for (const a of accepted) {
    const p = decided.get(a.id);
    if (!p) { lost++; continue; }
    if (p.status === "pending") undecided++;
    byStatus[p.status] = (byStatus[p.status] ?? 0) + 1;
    if (p.firstDecidedAt) toVerdict.push(Date.parse(p.firstDecidedAt) - Date.parse(p.createdAt));
  }
  const m = metrics((await request(host.port, "GET", "/metrics")).body);
  const rssEnd = rssMiB(host.pid);
  await stopHost(host);
  dbl.child.kill("SIGTERM");

  // --- the Azure cost of the same work (Consumption plan list prices; see bench/README.md) ---
  const executions = sum(m, "nimbus_invocations_total");
  const durSum = sum(m, "nimbus_invocation_duration_seconds_sum");
  const durCount = sum(m, "nimbus_invocation_duration_seconds_count");
  // Azure bills each execution at least 100 ms and at least 128 MB.
  const gbSeconds = 0.125 * Math.max(durSum, 0.1 * durCount);
  const messages = sum(m, "nimbus_queue_messages_total");
  const activities = sum(m, "nimbus_activity_items_total");
  const orchestrations = sum(m, "nimbus_orchestrations_total");
  // Queue operations: each trigger message is put, got and deleted (3); Durable Functions on
  // Azure Storage moves every activity through a work-item queue and its result through a
  // control queue (2 messages x 3), and each start through a control queue (3).
  const queueOps = 3 * messages + 6 * activities + 3 * orchestrations;
  const posts = accepted.length;
  const cost = {
    executions, gbSeconds, queueOps, posts,
    perPost: {
      executions: executions / posts, gbSeconds: gbSeconds / posts, queueOps: queueOps / posts,
    },
  };
  const perPostUsd = (0.2 / 1e6) * cost.perPost.executions + 0.000016 * cost.perPost.gbSeconds +
    (0.0004 / 1e4) * cost.perPost.queueOps;
  const monthPosts = STEADY * 30 * 24 * 3600;
  const monthUsd = perPostUsd * monthPosts;
  // The monthly free grant (1M executions, 400,000 GB-s) applied to the steady month.
  const freeUsd = (0.2 / 1e6) * Math.max(0, cost.perPost.executions * monthPosts - 1e6) +
    0.000016 * Math.max(0, cost.perPost.gbSeconds * monthPosts - 4e5) +
    (0.0004 / 1e4) * cost.perPost.queueOps * monthPosts;

  const summary = {
    config: { moderation: MODERATION, rate: RATE, seconds: SECONDS, fail: FAIL, hang: HANG, killEvery: KILL_EVERY, steady: STEADY, authors: AUTHORS },
    coldStartMs: { runs: cold.length, p50: pct(cold, 50), max: Math.max(...cold) },
    api: { sent: n, statuses, p50: pct(apiMs, 50), p99: pct(apiMs, 99), max: Math.max(...apiMs) },
    postToVerdictMs: { n: toVerdict.length, p50: pct(toVerdict, 50), p99: pct(toVerdict, 99), max: Math.max(...toVerdict) },
    accepted: posts, byStatus, lost, undecided,
    // Accepted posts that ended approved, rejected or pending-review (none lost or stuck).
    successRate: posts ? (posts - lost - undecided) / posts : 0,
    workersKilled: kills,
    hostRssMiB: { max: rssMax, end: rssEnd },
    moderation: Object.fromEntries([...m].filter(([k]) => k.startsWith("nimbus_moderation_") && !k.includes("_bucket"))),
    cost: { ...cost, perPostUsd, steadyPostsPerMonth: monthPosts, monthUsd, monthUsdAfterFreeGrant: freeUsd, budgetUsd: 50 },
  };
  fs.writeFileSync(path.join(OUT, "summary.json"), JSON.stringify(summary, null, 2));
  const lines = [
    `cold start to first answer: p50 ${summary.coldStartMs.p50.toFixed(1)} ms, max ${summary.coldStartMs.max.toFixed(1)} ms (${cold.length} runs)`,
    `API POST /api/posts: p50 ${summary.api.p50.toFixed(2)} ms, p99 ${summary.api.p99.toFixed(2)} ms, max ${summary.api.max.toFixed(1)} ms; statuses ${JSON.stringify(statuses)}`,
    `post -> first verdict: p50 ${summary.postToVerdictMs.p50} ms, p99 ${summary.postToVerdictMs.p99} ms, max ${summary.postToVerdictMs.max} ms (n=${toVerdict.length})`,
    `accepted ${posts}: ${JSON.stringify(byStatus)}; lost ${lost}; still pending ${undecided}; success rate ${(100 * summary.successRate).toFixed(3)} %`,
    `workers killed ${kills}; host RSS max ${rssMax.toFixed(1)} MiB, end ${rssEnd.toFixed(1)} MiB`,
    `moderation: ${JSON.stringify(summary.moderation)}`,
    `Azure cost: ${cost.perPost.executions.toFixed(2)} executions, ${cost.perPost.gbSeconds.toFixed(4)} GB-s, ` +
      `${cost.perPost.queueOps.toFixed(1)} queue ops per post = $${(perPostUsd * 1e6).toFixed(2)} per million posts; ` +
      `steady ${STEADY}/s for 30 days (${(monthPosts / 1e6).toFixed(2)} M posts) = $${monthUsd.toFixed(2)}/month ` +
      `($${freeUsd.toFixed(2)} after the free grant) against a $50 budget`,
  ];
  for (const l of lines) log(l);
  fs.writeFileSync(path.join(OUT, "summary.txt"), lines.join("\n") + "\n");
  fs.rmSync(data, { recursive: true, force: true });
  agent.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });
