// Timer triggers end to end: a custom handler app (tests/apps/timer-node) and a native one
// (tests/apps/timer-native) on real hosts. Every wait is a bounded poll of what the handler
// recorded (GET /api/events) or of the host's log.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { appPath, request, startNimbus, stopNimbus, tempDir, waitFor, waitForLog } from "./lib/nimbus.mjs";

const APP = appPath("tests/apps/timer-node");

async function events(host, fn) {
  const r = await request(host.port, "GET", "/api/events");
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).filter((e) => e.fn === fn);
}

async function runsOf(host, fn, n, timeoutMs = 15000) {
  return waitFor(async () => {
    const e = await events(host, fn);
    return e.length >= n ? e : null;
  }, { timeoutMs, intervalMs: 100, what: `${n} runs of ${fn}` });
}

describe("timerTrigger (custom handler)", () => {
  const hosts = [];
  const start = async (fns, extra = []) => {
    const h = await startNimbus(APP, ["--no-auth", ...extra, "--functions", ...fns, "events"]);
    hosts.push(h);
    return h;
  };
  after(async () => { for (const h of hosts) await stopNimbus(h); });

  test("\"*/1 * * * * *\" from a %Setting% fires every second; the next 5 occurrences are logged", async () => {
    const host = await start(["tick"]);
    await waitForLog(host, /The next 5 occurrences of the 'tick' schedule \(Cron: '\*\/1 \* \* \* \* \*'\) will be: \d{4}-/);
    const runs = await runsOf(host, "tick", 4);
    for (let i = 1; i < runs.length; i++) {
      const gap = runs[i].start - runs[i - 1].start;
      // One run per occurrence: never two for one second; the upper bound only allows for a
      // loaded machine.
      assert.ok(gap >= 500 && gap <= 3000, `runs about one second apart, got ${gap} ms`);
    }
    for (const r of runs) {
      assert.equal(r.timer.IsPastDue, false);
      // A 1 s schedule has no monitor (Azure's default below a minute): no status.
      assert.equal(r.timer.ScheduleStatus, null);
      assert.deepEqual(r.timer.Schedule, { AdjustForDST: false });
    }
    await stopNimbus(host);
  });

  test("a run longer than the period delays the next occurrence and never overlaps it", async () => {
    const host = await start(["slow"]);
    const runs = await runsOf(host, "slow", 4, 20000);
    for (const r of runs) assert.equal(r.concurrent, 1, "one run at a time");
    for (let i = 1; i < runs.length; i++) {
      assert.ok(runs[i].start >= runs[i - 1].end, "a run starts after the previous one ended");
      // Its occurrence passed during the previous run: it runs at once, late.
      assert.ok(runs[i].start - runs[i - 1].end < 900, "the delayed occurrence runs as soon as it can");
      assert.equal(runs[i].timer.IsPastDue, true);
    }
    await stopNimbus(host);
  });

  test("runOnStartup runs once at start; a manual run (POST /admin/functions/{name}) runs it again", async () => {
    const host = await start(["startup"]);
    const [first] = await runsOf(host, "startup", 1);
    assert.equal(first.timer.IsPastDue, false);
    // Its yearly schedule keeps the next run far away; the admin endpoint runs it now.
    const r = await request(host.port, "POST", "/admin/functions/startup", { body: JSON.stringify({ input: "" }) });
    assert.equal(r.status, 202, r.body);
    const runs = await runsOf(host, "startup", 2);
    assert.equal(runs.length, 2);
    await waitForLog(host, /"trigger":"manual"/);
    await stopNimbus(host);
  });

  test("useMonitor: an occurrence missed while the host was down runs once at start, IsPastDue", async () => {
    const data = tempDir("nimbus-timer-data-");
    let host = await start(["monitored"], ["--data", data]);
    const [run] = await runsOf(host, "monitored", 1);
    assert.equal(run.timer.IsPastDue, false);
    await stopNimbus(host);
    // "*/2": the host stays down past the next occurrence (bounded wait on the clock).
    const stopped = Date.now();
    await waitFor(() => Date.now() - stopped > 2600, { timeoutMs: 5000, what: "an occurrence to pass" });
    host = await start(["monitored"], ["--data", data]);
    await waitForLog(host, /was missed while the host was down; running it now \(IsPastDue\)/);
    const runs = await runsOf(host, "monitored", 3);
    assert.equal(runs[0].timer.IsPastDue, true, "the missed occurrence runs past due");
    const status = runs[0].timer.ScheduleStatus;
    assert.ok(status && status.Last && status.Next && status.LastUpdated, JSON.stringify(status));
    assert.ok(Date.parse(status.Next) <= runs[0].start, "Next is the missed occurrence");
    assert.ok(Date.parse(status.Last) < Date.parse(status.Next));
    assert.ok(runs[0].start - stopped < 15000);
    assert.deepEqual(runs.slice(1).map((r) => r.timer.IsPastDue), [false, false], "past due once only");
    // The status the next run sees: Last = the past-due occurrence.
    assert.equal(runs[1].timer.ScheduleStatus.Last, status.Next);
  });
});

describe("timerTrigger (native)", () => {
  let host;
  after(() => stopNimbus(host));
  test("app.timer runs on startup and every second with TimerInfo", async () => {
    host = await startNimbus(appPath("tests/apps/timer-native"), ["--no-auth"]);
    await waitForLog(host, /The next 5 occurrences of the 'beat' schedule/);
    await waitFor(() => (host.logs.match(/beat past_due=false json=\{\\"Schedule\\":\{\\"AdjustForDST\\":false\}/g) || []).length >= 3,
                  { timeoutMs: 10000, what: "3 beats" });
  });
});

describe("timerTrigger schedules refused at load", () => {
  test("a bad expression names the file, the binding, the expression and what is wrong", async () => {
    const { copyApp } = await import("./lib/nimbus.mjs");
    const fs = await import("node:fs");
    const dir = copyApp("tests/apps/timer-node");
    fs.writeFileSync(`${dir}/tick/function.json`, JSON.stringify({
      bindings: [{ type: "timerTrigger", direction: "in", name: "timer", schedule: "0 61 * * * *" }],
    }));
    const host = await startNimbus(dir, ["--no-auth"]);
    // The function is refused; the host runs the others.
    const line = await waitForLog(host, /"msg":("tick\/function\.json: bindings\[0\]\.schedule: (?:[^"\\]|\\.)*")/);
    await stopNimbus(host);
    assert.equal(JSON.parse(line[1]),
                 'tick/function.json: bindings[0].schedule: "0 61 * * * *" field 2 (minute) "61": 61 is out of range 0-59');
  });
});
