// `make demo-chaos`: the reference app's fail-open and recovery, live. Starts the Gemini test
// double and the app pointed at it, then narrates: healthy moderation; the provider failing
// (posts accepted as pending-review, the breaker opening, the re-review backlog growing); the
// provider back (the re-review queue and timer approve the waiting posts, the breaker closing).
// Loopback only; every wait is bounded. Ctrl-C stops everything.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BIN = process.env.NIMBUS_BIN || path.join(ROOT, "build/release/nimbus");
const PORT = Number(process.env.PORT || 7071);
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => { for (const c of children) c.kill("SIGTERM"); process.exit(130); });

function request(port, method, p, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: p, method,
      headers: body ? { "content-type": "application/json" } : {} }, (res) => {
      let b = "";
      res.on("data", (d) => (b += d));
      res.on("end", () => { let j = null; try { j = JSON.parse(b); } catch {} resolve({ status: res.statusCode, json: j, body: b }); });
    });
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, body: e.message }));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function spawnUntil(cmd, argv, pattern, opts = {}) {
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const on = (d) => { out += d; const m = pattern.exec(out); if (m) resolve({ child, m }); };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", (c) => reject(new Error(`${path.basename(cmd)} exited (${c}):\n${out.slice(-2000)}`)));
  });
}

async function metric(name) {
  const r = await request(PORT, "GET", "/metrics");
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(r.body);
  return m ? Number(m[1]) : 0;
}
const breaker = async () => ["closed", "half-open", "open"][await metric("nimbus_moderation_breaker_state")] ?? "?";

async function post(text) {
  const r = await request(PORT, "POST", "/api/posts", { author: "demo", text });
  return r.json?.id;
}
async function statusOf(id) {
  return (await request(PORT, "GET", `/api/posts/${id}?author=demo`)).json?.moderation?.status;
}
async function waitStatus(ids, want, seconds) {
  for (let i = 0; i < seconds * 4; i++) {
    const s = await Promise.all(ids.map(statusOf));
    if (s.every((x) => want.includes(x))) return s;
    await sleep(250);
  }
  return Promise.all(ids.map(statusOf));
}

async function main() {
  const { child: dbl, m } = await spawnUntil(process.execPath, [path.join(ROOT, "tools/gemini-double/server.mjs"), "--port", "0"], /listening (\d+)/);
  const geminiPort = Number(m[1]);
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "nimbus-demo-"));
  fs.cpSync(path.join(ROOT, "examples/moderation"), app, { recursive: true });
  fs.writeFileSync(path.join(app, "local.settings.json"), JSON.stringify({ Values: {
    GEMINI_API_KEY: "demo-key", GEMINI_ENDPOINT: `http://127.0.0.1:${geminiPort}`, REREVIEW_SCHEDULE: "*/2 * * * * *" } }));
  await spawnUntil(BIN, ["start", app, "--port", String(PORT), "--queue-port", "0", "--docs-port", "0",
    "--data", path.join(app, ".data")], /Nimbus listening/);
  const faults = (spec) => request(geminiPort, "POST", "/_double/faults", { spec });

  say(`Gemini double on :${geminiPort}; the moderation app on :${PORT}`);
  const healthy = [await post("Hello from the analytical engine"), await post("I hate you")];
  console.log("two posts, provider healthy:", await waitStatus(healthy, ["approved", "rejected"], 10));

  say("the provider fails every call (500): posts are still accepted, marked pending-review");
  await faults("status=500");
  const down = [];
  for (let i = 0; i < 6; i++) down.push(await post(`post ${i} while Gemini is down`));
  console.log("six posts:", await waitStatus(down, ["pending-review"], 20));
  console.log(`breaker ${await breaker()}, fail-open verdicts ${await metric("nimbus_moderation_fail_open_total")}, ` +
              `re-review backlog ${await metric("nimbus_moderation_rereview_backlog")}`);
  const a = await request(PORT, "POST", "/api/analyze", { text: "is this fine?" });
  console.log(`POST /api/analyze answers ${a.status} at once: ${a.json?.status} (${a.json?.reason})`);

  say("the provider recovers: the re-review queue and the timer moderate the waiting posts");
  await faults("");
  console.log("the six posts:", await waitStatus(down, ["approved", "rejected"], 90));
  console.log(`breaker ${await breaker()}`);
  // Messages queued twice (by a retry and by the sweep) come back after their retry delay,
  // find their post already decided and are dropped: the backlog drains to zero.
  for (let i = 0; i < 120 && (await metric("nimbus_moderation_rereview_backlog")) > 0; i++) await sleep(500);
  console.log(`re-review backlog ${await metric("nimbus_moderation_rereview_backlog")}`);

  say(`the app keeps running on http://127.0.0.1:${PORT} (metrics at /metrics); Ctrl-C stops it`);
  await new Promise(() => {});
}

main().catch((e) => { console.error(e.message); for (const c of children) c.kill("SIGTERM"); process.exit(1); });
