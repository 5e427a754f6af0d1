// Load driver for the durable-orchestration benchmark (bench/durable/run_durable_bench.sh).
// The same method for Nimbus and for the Restate peer: start COUNT instances with at most
// CONCURRENCY start requests in flight (each start answers once the instance is durably
// accepted: 202), then wait until none is left unfinished (Nimbus: the list API polled every
// POLL ms; Restate: attach calls, see below; bounded by TIMEOUT s), then read every instance's server timestamps (created -> completed) and check its
// output. Figures:
//   per_s_wall    COUNT / (first start sent -> all seen finished), includes the poll granularity
//   per_s_server  COUNT / (earliest created -> latest completed), from the servers' own timestamps
//   latency_ms    created -> completed per instance (p50/p90/p99/max), ms resolution
// Every loop is bounded by a count and a deadline; loopback only.
//
//   NIMBUS_DURABLE_KEY=<master key> node drive.mjs nimbus --base http://127.0.0.1:P --name Chain --input '{"steps":5}'
//                          --count 2000 --concurrency 50 --prefix p-chain- --label chain5 [--key KEY]
//                          [--activities-per-instance 5] [--expect '...'] [--history-sample 100]
//   node drive.mjs restate --ingress http://127.0.0.1:P --admin http://127.0.0.1:Q --n 10
//                          --count 1000 --concurrency 50 --prefix r-fan- --label restate-fanout10
//                          [--mode send|call]
//     send: POST /FanOut/{id}/run/send (202 once accepted), then GET
//           /restate/workflow/FanOut/{id}/attach for every id (CONCURRENCY at once; it answers
//           with the result when the workflow is done, so Restate is not polled); call: POST
//           /FanOut/{id}/run, which answers with the result (closed loop: CONCURRENCY workflows
//           in flight at most). Server timestamps from the admin API's sys_invocation table.
// Prints progress lines and one line `result: {json}` per phase.
import http from "node:http";

function args(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const k = a.slice(2);
      const v = argv[i + 1] !== undefined && !argv[i + 1].startsWith("--") ? argv[++i] : "true";
      o[k] = v;
    } else o._.push(a);
  }
  return o;
}
const A = args(process.argv.slice(2));
const mode = A._[0];
const COUNT = Number(A.count ?? 100);
const CONC = Number(A.concurrency ?? 50);
const TIMEOUT_S = Number(A.timeout ?? 300);
const POLL_MS = Number(A.poll ?? 100);
const LABEL = A.label ?? mode;
const PREFIX = A.prefix ?? `b${Date.now().toString(36)}-`;
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(CONC, 8) + 4 });

const t0 = Date.now();
const deadline = t0 + TIMEOUT_S * 1000;
const log = (...m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${LABEL}:`, ...m);

function request(url, { method = "GET", headers = {}, body, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent,
      headers: body === undefined ? headers : { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${u.pathname}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Runs fn(i) for i in 0..count-1 with at most `conc` at once; stops issuing at the deadline.
async function pool(count, conc, fn) {
  let next = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, count) }, worker));
  return next;
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function summary(values) {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s.length ? s[s.length - 1] : null };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));  // poll interval only, never as synchronization
function errorSample(errors) {
  const by = new Map();
  for (const e of errors) by.set(e, (by.get(e) ?? 0) + 1);
  return [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([e, n]) => ({ n, error: e.slice(0, 300) }));
}
function emit(result) {
  console.log("result: " + JSON.stringify(result));
}
const sumOfSquares = (n) => (n * (n + 1) * (2 * n + 1)) / 6;

// ---------------------------------------------------------------- Nimbus
async function nimbus() {
  const base = A.base.replace(/\/$/, "");
  const key = A.key ?? process.env.NIMBUS_DURABLE_KEY;  // from the environment: not in logs
  const name = A.name ?? "FanOut";
  const input = A.input ?? '{"n":10}';
  const perInstance = Number(A["activities-per-instance"] ?? 0);
  const expect = A.expect;  // exact output JSON text, compared after parsing
  const wh = `${base}/runtime/webhooks/durabletask`;
  const startErrors = [];
  const startLat = [];
  let started = 0;
  const tStart = Date.now();
  const issued = await pool(COUNT, CONC, async (i) => {
    const id = `${PREFIX}${i}`;
    const t = performance.now();
    try {
      const r = await request(`${wh}/orchestrators/${name}/${id}?code=${key}`, { method: "POST", body: input });
      startLat.push(performance.now() - t);
      if (r.status === 202) started++;
      else startErrors.push(`HTTP ${r.status}: ${r.text}`);
    } catch (e) {
      startErrors.push(String(e.message ?? e));
    }
  });
  const tStarted = Date.now();
  log(`${started}/${COUNT} started (${issued} issued) in ${((tStarted - tStart) / 1000).toFixed(2)} s, ${startErrors.length} start errors`);

  // Poll: anything of ours still Pending/Running? (one row is enough to say "not yet")
  let pollErrors = [];
  let polls = 0;
  let done = false;
  while (Date.now() < deadline) {
    polls++;
    try {
      const r = await request(`${wh}/instances?instanceIdPrefix=${encodeURIComponent(PREFIX)}&runtimeStatus=Pending,Running&top=1&code=${key}`);
      if (r.status === 200 && Array.isArray(r.json) && r.json.length === 0) { done = true; break; }
      if (r.status !== 200) pollErrors.push(`HTTP ${r.status}: ${r.text}`);
    } catch (e) { pollErrors.push(String(e.message ?? e)); }
    await sleep(POLL_MS);
  }
  const tDone = Date.now();
  log(done ? `none unfinished after ${((tDone - tStart) / 1000).toFixed(2)} s (${polls} polls)` : `DEADLINE: still unfinished after ${TIMEOUT_S} s`);

  // Every instance of ours, paged with the continuation header.
  const rows = [];
  let token = "";
  const listErrors = [];
  for (let page = 0; page < 10000 && Date.now() < deadline + 60000; page++) {
    let r;
    try {
      r = await request(`${wh}/instances?instanceIdPrefix=${encodeURIComponent(PREFIX)}&top=1000&code=${key}`, { headers: token ? { "x-ms-continuation-token": token } : {} });
    } catch (e) { listErrors.push(String(e.message ?? e)); break; }
    if (r.status !== 200 || !Array.isArray(r.json)) { listErrors.push(`HTTP ${r.status}: ${r.text.slice(0, 200)}`); break; }
    rows.push(...r.json);
    token = r.headers["x-ms-continuation-token"] ?? "";
    if (!token) break;
  }
  const byStatus = {};
  for (const r of rows) byStatus[r.runtimeStatus] = (byStatus[r.runtimeStatus] ?? 0) + 1;
  const completed = rows.filter((r) => r.runtimeStatus === "Completed");
  const lat = completed.map((r) => Date.parse(r.lastUpdatedTime) - Date.parse(r.createdTime));
  const created = completed.map((r) => Date.parse(r.createdTime));
  const finished = completed.map((r) => Date.parse(r.lastUpdatedTime));
  const span = completed.length ? (Math.max(...finished) - Math.min(...created)) / 1000 : null;
  let wrong = 0;
  let wrongSample;
  if (expect !== undefined) {
    const want = JSON.stringify(JSON.parse(expect));
    for (const r of completed) {
      let out = r.output;
      if (typeof out === "string") { try { out = JSON.parse(out); } catch { /* keep the string */ } }
      if (JSON.stringify(out) !== want) { wrong++; wrongSample ??= { instanceId: r.instanceId, output: r.output }; }
    }
  }
  const failedSample = rows.filter((r) => r.runtimeStatus !== "Completed").slice(0, 3).map((r) => ({ instanceId: r.instanceId, runtimeStatus: r.runtimeStatus, output: r.output }));

  // Gaps between one activity's end and the next one's start, as the history records them
  // (TaskCompleted -> next TaskScheduled; millisecond timestamps), over a sample of instances.
  let gaps;
  const hs = Math.min(Number(A["history-sample"] ?? 0), completed.length);
  if (hs > 0) {
    const g = [];
    const step = completed.length / hs;
    for (let j = 0; j < hs && Date.now() < deadline + 120000; j++) {
      const id = completed[Math.floor(j * step)].instanceId;
      try {
        const r = await request(`${wh}/instances/${encodeURIComponent(id)}?showHistory=true&code=${key}`);
        const ev = r.json?.historyEvents ?? [];
        for (let k = 0; k < ev.length; k++) {
          if (ev[k].EventType !== "TaskCompleted") continue;
          const next = ev.slice(k + 1).find((e) => e.EventType === "TaskScheduled");
          if (next) g.push(Date.parse(next.Timestamp) - Date.parse(ev[k].Timestamp));
        }
      } catch (e) { listErrors.push(`history ${id}: ${e.message ?? e}`); }
    }
    gaps = { instances: hs, ...summary(g), unit: "ms (ms-resolution timestamps)" };
  }

  const result = {
    step: LABEL, target: "nimbus", orchestrator: name, input: JSON.parse(input), count: COUNT, concurrency: CONC,
    prefix: PREFIX, started, start_errors: startErrors.length, start_error_sample: errorSample(startErrors),
    start_seconds: (tStarted - tStart) / 1000, starts_per_s: started / ((tStarted - tStart) / 1000),
    start_latency_ms: summary(startLat),
    all_finished: done, listed: rows.length, by_status: byStatus, completed: completed.length,
    wrong_output: wrong, wrong_output_sample: wrongSample, not_completed_sample: failedSample,
    wall_seconds: (tDone - tStart) / 1000, per_s_wall: completed.length / ((tDone - tStart) / 1000),
    server_span_seconds: span, per_s_server: span ? completed.length / span : null,
    latency_ms: summary(lat),
    poll_ms: POLL_MS, polls, poll_errors: pollErrors.length, poll_error_sample: errorSample(pollErrors),
    list_errors: errorSample(listErrors),
  };
  if (perInstance) {
    result.activities = perInstance * completed.length;
    result.activities_per_s_server = span ? result.activities / span : null;
    result.activities_per_s_wall = result.activities / ((tDone - tStart) / 1000);
  }
  if (gaps) result.activity_gap_ms = gaps;
  emit(result);
}

// ---------------------------------------------------------------- Restate
async function restateQuery(admin, sql) {
  const r = await request(`${admin}/query`, {
    method: "POST", headers: { accept: "application/json" }, body: JSON.stringify({ query: sql }), timeoutMs: 60000,
  });
  if (r.status !== 200 || !r.json) throw new Error(`query HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  return r.json.rows;
}

async function restate() {
  const ingress = A.ingress.replace(/\/$/, "");
  const admin = A.admin.replace(/\/$/, "");
  const n = Number(A.n ?? 10);
  const sub = A.mode ?? "send";
  const body = JSON.stringify({ n });
  const want = sumOfSquares(n);
  const startErrors = [];
  const startLat = [];
  const callLat = [];
  let started = 0;
  let wrong = 0;
  let wrongSample;
  const tStart = Date.now();
  const issued = await pool(COUNT, CONC, async (i) => {
    const id = `${PREFIX}${i}`;
    const t = performance.now();
    try {
      const r = await request(`${ingress}/FanOut/${id}/run${sub === "send" ? "/send" : ""}`, { method: "POST", body, timeoutMs: 120000 });
      const ms = performance.now() - t;
      if (sub === "send") {
        startLat.push(ms);
        if (r.status === 202 || r.status === 200) started++;
        else startErrors.push(`HTTP ${r.status}: ${r.text}`);
      } else if (r.status === 200) {
        started++;
        callLat.push(ms);
        if (r.json?.sum !== want) { wrong++; wrongSample ??= { id, body: r.text }; }
      } else startErrors.push(`HTTP ${r.status}: ${r.text}`);
    } catch (e) {
      startErrors.push(String(e.message ?? e));
    }
  });
  const tStarted = Date.now();
  log(`${started}/${COUNT} ${sub === "send" ? "accepted" : "answered"} (${issued} issued) in ${((tStarted - tStart) / 1000).toFixed(2)} s, ${startErrors.length} errors`);

  // Done when every workflow has answered an attach (GET /restate/workflow/FanOut/{id}/attach
  // waits for the result: no polling of the server's tables during the timing); each answer's
  // sum is checked. In call mode the calls themselves answered with the results.
  const keyFilter = `target_service_name = 'FanOut' AND target_service_key LIKE '${PREFIX.replace(/'/g, "''")}%'`;
  const pollErrors = [];
  let polls = 0;
  let attached = 0;
  if (sub === "send") {
    await pool(COUNT, CONC, async (i) => {
      const id = `${PREFIX}${i}`;
      polls++;
      try {
        const r = await request(`${ingress}/restate/workflow/FanOut/${id}/attach`, { timeoutMs: Math.max(1000, deadline - Date.now()) });
        if (r.status === 200) {
          attached++;
          if (r.json?.sum !== want) { wrong++; wrongSample ??= { id, status: r.status, body: r.text }; }
        } else pollErrors.push(`attach HTTP ${r.status}: ${r.text}`);
      } catch (e) { pollErrors.push(String(e.message ?? e)); }
    });
  }
  const done = sub === "send" ? attached === COUNT : started === COUNT;
  const tDone = Date.now();
  log(done ? `all finished after ${((tDone - tStart) / 1000).toFixed(2)} s` : `NOT all finished (deadline ${TIMEOUT_S} s or errors)`);

  let rows = [];
  const listErrors = [];
  try {
    rows = await restateQuery(admin, `SELECT target_service_key AS id, status, completion_result, created_at, completed_at, retry_count, last_failure FROM sys_invocation WHERE ${keyFilter}`);
  } catch (e) { listErrors.push(String(e.message ?? e)); }
  const byStatus = {};
  for (const r of rows) { const k = `${r.status}${r.completion_result ? "/" + r.completion_result : ""}`; byStatus[k] = (byStatus[k] ?? 0) + 1; }
  const completed = rows.filter((r) => r.status === "completed" && r.completion_result === "success");
  const lat = completed.map((r) => Date.parse(r.completed_at) - Date.parse(r.created_at));
  const span = completed.length
    ? (Math.max(...completed.map((r) => Date.parse(r.completed_at))) - Math.min(...completed.map((r) => Date.parse(r.created_at)))) / 1000
    : null;
  const failures = rows.filter((r) => r.last_failure).map((r) => String(r.last_failure));
  const retries = rows.reduce((a, r) => a + Number(r.retry_count ?? 0), 0);

  emit({
    step: LABEL, target: "restate", workflow: "FanOut", mode: sub, n, count: COUNT, concurrency: CONC, prefix: PREFIX,
    started, start_errors: startErrors.length, start_error_sample: errorSample(startErrors),
    start_seconds: (tStarted - tStart) / 1000, starts_per_s: started / ((tStarted - tStart) / 1000),
    start_latency_ms: sub === "send" ? summary(startLat) : undefined,
    call_latency_ms: sub === "call" ? summary(callLat) : undefined,
    all_finished: done, listed: rows.length, by_status: byStatus, completed: completed.length,
    wrong_output: wrong, wrong_output_sample: wrongSample,
    retries, invocation_failures: failures.length, invocation_failure_sample: errorSample(failures),
    wall_seconds: (tDone - tStart) / 1000, per_s_wall: completed.length / ((tDone - tStart) / 1000),
    server_span_seconds: span, per_s_server: span ? completed.length / span : null,
    latency_ms: summary(lat),
    activities: n * completed.length, activities_per_s_server: span ? (n * completed.length) / span : null,
    activities_per_s_wall: (n * completed.length) / ((tDone - tStart) / 1000),
    attaches: polls, attach_errors: pollErrors.length, attach_error_sample: errorSample(pollErrors),
    list_errors: errorSample(listErrors),
  });
}

try {
  if (mode === "nimbus") await nimbus();
  else if (mode === "restate") await restate();
  else {
    console.error("usage: node drive.mjs nimbus|restate --help in the header of this file");
    process.exit(64);
  }
} catch (e) {
  emit({ step: LABEL, fatal: String(e.stack ?? e) });
  process.exitCode = 1;
} finally {
  agent.destroy();
}
