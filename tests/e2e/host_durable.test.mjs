// End-to-end: durable orchestrations of a native app on `nimbus start`, driven through the
// Durable Functions HTTP management API with Node's http client: fan-out/fan-in, chains with
// durable timers, external events raced against timers, sub-orchestrations, retries,
// continue-as-new, failures, a non-deterministic orchestrator failing only its own instance,
// terminate/suspend/resume/purge/restart, bad input answered as the reference says, and
// SIGKILL of the host mid-work: every instance completes with exactly the right result.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { copyApp, request, startNimbus, stopNimbus, tempDir, waitFor, keys } from "../integration/lib/nimbus.mjs";

const BASE = "/runtime/webhooks/durabletask";
let host;
after(() => stopNimbus(host));

function app(runLog, nimbusSection = {}) {
  const dir = copyApp("tests/apps/durable-native");
  // The library is built into the repo's app folder; point the copy at it.
  const lib = path.join(process.env.NIMBUS_ROOT, "tests/apps/durable-native/bin/libdurableapp.so");
  fs.writeFileSync(path.join(dir, "host.json"), JSON.stringify({
    version: "2.0",
    nimbus: { native: { library: lib }, ...nimbusSection },
  }));
  fs.writeFileSync(path.join(dir, "local.settings.json"), JSON.stringify({
    IsEncrypted: false,
    // GEMINI_API_KEY empty: moderation inputs use the local rules whatever the environment holds.
    Values: { DURABLE_RUN_LOG: runLog, GEMINI_API_KEY: "" },
  }));
  return dir;
}

// `dataDir`: the host's --data when the test chose it (keys.json lives there).
function api(h, dataDir) {
  const code = dataDir ? JSON.parse(fs.readFileSync(path.join(dataDir, "keys.json"), "utf8")).masterKey : keys(h).masterKey;
  const call = (method, p, body) => request(h.port, method, `${BASE}${p}${p.includes("?") ? "&" : "?"}code=${code}`, {
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    start: (name, input, id) => call("POST", `/orchestrators/${name}${id ? "/" + id : ""}`, input),
    status: (id, q = "") => call("GET", `/instances/${encodeURIComponent(id)}${q}`),
    raise: (id, ev, data) => call("POST", `/instances/${encodeURIComponent(id)}/raiseEvent/${ev}`, data),
    op: (id, op, q = "") => call("POST", `/instances/${encodeURIComponent(id)}/${op}${q}`),
    list: (q = "") => call("GET", `/instances${q}`),
    purge: (id) => call("DELETE", `/instances/${encodeURIComponent(id)}`),
    raw: call,
  };
}

async function finished(a, id, timeoutMs = 20000) {
  return waitFor(async () => {
    const r = await a.status(id);
    return r.json && ["Completed", "Failed", "Terminated"].includes(r.json.runtimeStatus) ? r : null;
  }, { timeoutMs, what: `instance ${id} to finish` });
}

test("fan-out/fan-in, chains with timers, sub-orchestrations, retries and continue-as-new give exact results", async () => {
  const runLog = path.join(tempDir("nimbus-durable-"), "runs.log");
  host = await startNimbus(app(runLog));
  const a = api(host);

  const started = await a.start("FanOut", { n: 50 });
  assert.equal(started.status, 202, started.body);
  assert.ok(started.headers.location.includes(`/instances/${started.json.id}`));
  assert.equal(started.headers["retry-after"], "10");
  for (const k of ["statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri", "suspendPostUri", "resumePostUri"])
    assert.ok(started.json[k], `start answer has ${k}`);
  const fan = await finished(a, started.json.id);
  assert.equal(fan.status, 200);
  assert.equal(fan.json.runtimeStatus, "Completed");
  assert.deepEqual(fan.json.output, { sum: (50 * 51 * 101) / 6 });
  assert.deepEqual(fan.json.input, { n: 50 });

  // More completions than one episode takes (2,000): the fan-in spans several episodes.
  const wide = await a.start("FanOut", { n: 3000 });
  const w = await finished(a, wide.json.id, 60000);
  assert.deepEqual(w.json.output, { sum: (3000 * 3001 * 6001) / 6 });

  const chain = await a.start("TimerChain", { steps: 5, timerMs: 30 }, "chain-1");
  assert.equal(chain.json.id, "chain-1");
  const c = await finished(a, "chain-1");
  assert.equal(c.json.output, 55);
  const hist = await a.status("chain-1", "?showHistory=true&showHistoryOutput=true");
  const kinds = hist.json.historyEvents.map((e) => e.EventType);
  assert.equal(kinds.filter((k) => k === "TimerCreated").length, 5);
  assert.equal(kinds.filter((k) => k === "TimerFired").length, 5);
  assert.equal(kinds.filter((k) => k === "TaskCompleted").length, 5);
  assert.equal(kinds.at(-1), "ExecutionCompleted");

  const parent = await a.start("Parent", { x: 1 });
  assert.deepEqual((await finished(a, parent.json.id)).json.output, { child: 49 });
  const failingParent = await a.start("Parent", { fail: true });
  assert.deepEqual((await finished(a, failingParent.json.id)).json.output, { childFailed: true });

  const retried = await a.start("Retry", { key: "r1", times: 2 });
  const r = await finished(a, retried.json.id);
  assert.equal(r.json.runtimeStatus, "Completed", r.body);
  assert.equal(r.json.output, 3, "the third attempt succeeded");

  const counter = await a.start("Counter", { n: 0, target: 4 });
  const cn = await finished(a, counter.json.id);
  assert.equal(cn.json.output, 4);
  const ch = await a.status(counter.json.id, "?showHistory=true");
  assert.ok(ch.json.historyEvents.length <= 4, "continue-as-new started the history over");

  const failing = await a.start("Failing", null);
  const f = await finished(a, failing.json.id);
  assert.equal(f.status, 400, "a failed instance answers 400");
  assert.equal(f.json.runtimeStatus, "Failed");
  assert.match(JSON.stringify(f.json.output), /on purpose/);
  assert.equal((await a.status(failing.json.id, "?returnInternalServerErrorOnFailure=true")).status, 500);
});

test("external events race timers; terminate, suspend, resume, restart and purge answer as the API says", async () => {
  const a = api(host);
  await a.start("Approval", { timeoutMs: 60000 }, "appr-1");
  await waitFor(async () => (await a.status("appr-1")).json?.customStatus === "waiting", { what: "custom status" });
  const running = await a.status("appr-1");
  assert.equal(running.status, 202, "a running instance answers 202");
  assert.equal(running.json.runtimeStatus, "Running");
  assert.equal((await a.raise("appr-1", "approval", { by: "ada" })).status, 202);
  assert.deepEqual((await finished(a, "appr-1")).json.output, { approved: { by: "ada" } });
  assert.equal((await a.raise("appr-1", "approval", {})).status, 410, "events to a finished instance: 410");

  await a.start("Approval", { timeoutMs: 100 }, "appr-2");
  assert.equal((await finished(a, "appr-2")).json.output, "timed out");

  // Suspend holds events until resume.
  await a.start("Approval", { timeoutMs: 60000 }, "appr-3");
  await waitFor(async () => (await a.status("appr-3")).json?.customStatus === "waiting", { what: "waiting" });
  assert.equal((await a.op("appr-3", "suspend", "?reason=hold")).status, 202);
  await waitFor(async () => (await a.status("appr-3")).json?.runtimeStatus === "Suspended", { what: "Suspended" });
  await a.raise("appr-3", "approval", true);
  const held = await a.status("appr-3");
  assert.equal(held.json.runtimeStatus, "Suspended");
  assert.equal((await a.op("appr-3", "resume", "?reason=go")).status, 202);
  assert.deepEqual((await finished(a, "appr-3")).json.output, { approved: true });

  await a.start("Approval", { timeoutMs: 60000 }, "appr-4");
  assert.equal((await a.op("appr-4", "terminate", "?reason=enough")).status, 202);
  const t = await finished(a, "appr-4");
  assert.equal(t.json.runtimeStatus, "Terminated");
  assert.equal(t.status, 400);
  assert.equal((await a.op("appr-4", "terminate")).status, 410);

  const restarted = await a.op("appr-4", "restart", "?restartWithNewInstanceId=false");
  assert.equal(restarted.status, 202, restarted.body);
  await waitFor(async () => (await a.status("appr-4")).json?.runtimeStatus === "Running", { what: "restarted" });
  await a.op("appr-4", "terminate");
  await finished(a, "appr-4");

  const list = await a.list("?runtimeStatus=Completed&top=2");
  assert.equal(list.status, 200);
  assert.equal(list.json.length, 2);
  assert.ok(list.headers["x-ms-continuation-token"], "a full page carries a continuation token");
  const purge = await a.purge("appr-1");
  assert.equal(purge.status, 200);
  assert.equal(purge.json.instancesDeleted, 1);
  assert.equal((await a.status("appr-1")).status, 404);
  assert.equal((await a.purge("appr-1")).status, 404);
});

test("an activity's moderation input is computed from its JSON input before it runs", async () => {
  const a = api(host);
  await a.start("Moderated", { comment: "a calm day at the lake" }, "mod-ok");
  const ok = (await finished(a, "mod-ok")).json;
  assert.equal(ok.runtimeStatus, "Completed");
  assert.equal(ok.output.status, "approved");
  assert.equal(ok.output.provider, "local-rules");
  await a.start("Moderated", { comment: "I hate you, vermin" }, "mod-bad");
  const bad = (await finished(a, "mod-bad")).json;
  assert.notEqual(bad.output.status, "approved");
  assert.equal(bad.output.provider, "local-rules");
  // No "comment" in the input: the activity fails before it runs, naming binding and expression.
  await a.start("Moderated", { other: 1 }, "mod-missing");
  const missing = (await finished(a, "mod-missing")).json;
  assert.match(missing.output.failed, /input binding "verdict" \(moderation\): text "\{comment\}": binding expression \{comment\} has no value/);
  assert.match(missing.output.failed, /activity's input/);
});

test("bad input to the management API is answered with the cause", async () => {
  const a = api(host);
  const unknown = await a.start("NoSuchOrchestrator", {});
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /NoSuchOrchestrator/);
  const badJson = await a.raw("POST", "/orchestrators/FanOut", "{not json");
  assert.equal(badJson.status, 400);
  assert.match(badJson.body, /not JSON/);
  const badId = await a.start("FanOut", { n: 1 }, "x".repeat(101));
  assert.equal(badId.status, 400);
  assert.match(badId.body, /1 to 100 characters/);
  assert.equal((await a.status("never-started")).status, 404);
  assert.equal((await a.raise("never-started", "e", 1)).status, 404);
  assert.equal((await a.list("?runtimeStatus=Sleeping")).status, 400);
  await a.start("Approval", { timeoutMs: 60000 }, "dup-1");
  const dup = await a.start("Approval", {}, "dup-1");
  assert.equal(dup.status, 409, "a running instance id cannot be started again");
  await a.op("dup-1", "terminate");
  const noKey = await request(host.port, "GET", `${BASE}/instances`);
  assert.equal(noKey.status, 401);
});

test("a non-deterministic orchestrator fails its own instance with the action and the history event named", async () => {
  const a = api(host);
  const flag = path.join(tempDir("nimbus-nondet-"), "flag");
  await a.start("Nondeterministic", { flag }, "nondet-1");
  await a.start("Approval", { timeoutMs: 60000 }, "bystander");
  // Wait until the first activity completed (its result is in the history).
  await waitFor(async () => {
    const h = await a.status("nondet-1", "?showHistory=true");
    return h.json?.historyEvents?.some((e) => e.EventType === "TaskCompleted");
  }, { what: "the first activity's result" });
  fs.writeFileSync(flag, "changed");
  await a.raise("nondet-1", "go", null);
  const f = await finished(a, "nondet-1");
  assert.equal(f.json.runtimeStatus, "Failed");
  assert.match(JSON.stringify(f.json.output), /Square/);
  assert.match(JSON.stringify(f.json.output), /Fail/);
  // The bystander is unaffected.
  await a.raise("bystander", "approval", 1);
  assert.deepEqual((await finished(a, "bystander")).json.output, { approved: 1 });
  await stopNimbus(host);
});

test("a worker killed during an episode and during an activity: the episode and the activity run again", async () => {
  const runLog = path.join(tempDir("nimbus-durable-"), "runs.log");
  host = await startNimbus(app(runLog));
  const a = api(host);
  const flag = path.join(tempDir("nimbus-crash-"), "flag");
  await a.start("CrashingEpisode", { flag }, "crash-1");
  const done = await finished(a, "crash-1", 30000);
  assert.equal(done.json.runtimeStatus, "Completed", done.body);
  assert.equal(done.json.output, "survived");
  assert.ok(fs.existsSync(flag) && fs.existsSync(flag + ".activity"), "both crashes happened");
  assert.match(host.logs, /orchestration episode could not run; trying again/);
  await stopNimbus(host);
});

test("retention purges finished instances; a history over maxHistoryBytes fails its instance naming continue-as-new", async () => {
  const runLog = path.join(tempDir("nimbus-durable-"), "runs.log");
  host = await startNimbus(app(runLog, { durable: { retention: "00:00:01", maxHistoryBytes: 65536 } }));
  try {
  const a = api(host);
  await a.start("FanOut", { n: 3 }, "short-lived");
  assert.deepEqual((await finished(a, "short-lived")).json.output, { sum: 14 });
  await waitFor(async () => (await a.status("short-lived")).status === 404,
                { timeoutMs: 10000, what: "the finished instance to be purged after 1 s" });
  assert.match(host.logs, /purged finished orchestrations past their retention/);
  // 1,000 activities make a history far over 64 KiB.
  await a.start("FanOut", { n: 1000 }, "too-big");
  const big = await finished(a, "too-big", 60000);
  assert.equal(big.json.runtimeStatus, "Failed");
  assert.match(JSON.stringify(big.json.output), /maxHistoryBytes/);
  assert.match(JSON.stringify(big.json.output), /continue_as_new/);
  assert.match(host.logs, /orchestration history is large; consider continue_as_new/);
  } finally {
    await stopNimbus(host);
  }
});

// Kills the host with SIGKILL while `count` instances run, restarts on the same data, and
// checks every result. Prints how many activities ran more than once.
async function killAndCount(name, input, count, expected, label) {
  const runLog = path.join(tempDir("nimbus-durable-kill-"), "runs.log");
  const data = tempDir("nimbus-durable-data-");
  const dir = app(runLog);
  host = await startNimbus(dir, ["--data", data]);
  const a = api(host, data);
  const ids = [];
  for (let i = 0; i < count; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 50); j++) batch.push(a.start(name, input, `${label}-${j}`));
    for (const r of await Promise.all(batch)) {
      assert.equal(r.status, 202, r.body);
      ids.push(r.json.id);
    }
  }
  // Kill once some work has run but (very likely) not all.
  // Checked every 2 ms: the whole burst takes about a second, and the kill must land mid-way.
  const activities = count * (label === "fan" ? 10 : 20);
  await waitFor(() => fs.existsSync(runLog) && fs.readFileSync(runLog, "utf8").split("\n").length > activities / 5,
                { timeoutMs: 30000, intervalMs: 2, what: "a fifth of the activities to run" });
  host.proc.kill("SIGKILL");
  await new Promise((r) => host.proc.on("exit", r));
  const before = fs.readFileSync(runLog, "utf8").split("\n").filter(Boolean).length;
  host = await startNimbus(dir, ["--data", data]);
  const code = JSON.parse(fs.readFileSync(path.join(data, "keys.json"), "utf8")).masterKey;
  const results = await waitFor(async () => {
    const out = [];
    let token = "";
    for (;;) {
      const page = await request(host.port, "GET", `${BASE}/instances?top=1000&instanceIdPrefix=${label}-&code=${code}`,
        { headers: token ? { "x-ms-continuation-token": token } : {} });
      out.push(...page.json);
      token = page.headers["x-ms-continuation-token"];
      if (!token) break;
    }
    return out.length === count && out.every((s) => s.runtimeStatus === "Completed") ? out : null;
  }, { timeoutMs: 120000, intervalMs: 500, what: `all ${count} ${name} instances to complete after the restart` });
  for (const s of results) assert.deepEqual(s.output, expected, `${s.instanceId} result`);
  const runs = fs.readFileSync(runLog, "utf8").split("\n").filter(Boolean).length;
  const minimum = activities;
  console.log(`${label}: ${count} instances, ${runs} activity runs for ${minimum} activities ` +
              `(${runs - minimum} re-runs; ${before} ran before the SIGKILL)`);
  assert.ok(runs >= minimum);
  await stopNimbus(host);
}

test("SIGKILL during 1,000 concurrent fan-outs of 10: every instance completes with the exact sum", async () => {
  await killAndCount("FanOut", { n: 10 }, 1000, { sum: 385 }, "fan");
});

test("SIGKILL during 200 chains of 20 activities with timers: every chain completes exactly", async () => {
  await killAndCount("TimerChain", { steps: 20, timerMs: 5 }, 200, 2870, "chain");
});
