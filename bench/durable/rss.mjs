// Host memory with many instances: starts COMPLETED instances of FanOut {"n":1} (they finish
// at once) and RUNNING instances of Approval (they wait for an event that never comes), then
// reads the host's VmRSS. Bounded: at most the given counts and 600 s.
//   node bench/durable/rss.mjs PORT KEY PID COMPLETED RUNNING
import fs from "node:fs";
import http from "node:http";

const [port, key, pid, completed, running] = [Number(process.argv[2]), process.argv[3],
  Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const deadline = Date.now() + 600000;

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: "127.0.0.1", port, method, path, agent, headers }, (s) => {
      let d = "";
      s.on("data", (c) => (d += c));
      s.on("end", () => resolve({ status: s.statusCode, body: d, headers: s.headers }));
    });
    r.on("error", reject);
    r.end(body);
  });
}

const rss = () => /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1] / 1024;

async function startAll(name, input, count, prefix) {
  let next = 0, failed = 0;
  async function lane() {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      const r = await call("POST", `/runtime/webhooks/durabletask/orchestrators/${name}/${prefix}${i}?code=${key}`, input);
      if (r.status !== 202) failed++;
    }
  }
  await Promise.all(Array.from({ length: 32 }, lane));
  return failed;
}

async function count(prefix, status) {
  let n = 0, token = "";
  for (;;) {
    const r = await call("GET", `/runtime/webhooks/durabletask/instances?top=1000&instanceIdPrefix=${prefix}&runtimeStatus=${status}&code=${key}`,
      undefined, token ? { "x-ms-continuation-token": token } : {});
    n += JSON.parse(r.body).length;
    token = r.headers["x-ms-continuation-token"];
    if (!token) return n;
  }
}

console.log(`rss at start: ${rss().toFixed(1)} MiB`);
const t0 = Date.now();
let failed = await startAll("FanOut", '{"n":1}', completed, "done-");
while (Date.now() < deadline && (await count("done-", "Completed")) < completed) await new Promise((r) => setTimeout(r, 500));
console.log(`${completed} completed in ${((Date.now() - t0) / 1000).toFixed(1)} s (start errors: ${failed}); rss ${rss().toFixed(1)} MiB`);
failed = await startAll("Approval", '{"timeoutMs":86400000}', running, "wait-");
while (Date.now() < deadline && (await count("wait-", "Running")) < running) await new Promise((r) => setTimeout(r, 500));
console.log(`+${running} running (start errors: ${failed}); rss ${rss().toFixed(1)} MiB`);
agent.destroy();
