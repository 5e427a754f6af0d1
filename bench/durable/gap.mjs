// Gap between one activity's end and the next one's start in five-step sequences, on an idle
// host: N Seq {"steps":5} instances one after another (bounded: N and 120 s), each activity
// stamping its own start and end. Prints p50/p99 of the 4 gaps per instance and of start ->
// completion.
//   node bench/durable/gap.mjs PORT KEY N
import http from "node:http";

const [port, key, n] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true });
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: "127.0.0.1", port, method, path, agent }, (s) => {
      let d = "";
      s.on("data", (c) => (d += c));
      s.on("end", () => resolve({ status: s.statusCode, body: d }));
    });
    r.on("error", reject);
    r.end(body);
  });
}
const gaps = [], totals = [];
const deadline = Date.now() + 120000;
for (let i = 0; i < n && Date.now() < deadline; i++) {
  const s = await call("POST", `/runtime/webhooks/durabletask/orchestrators/Seq?code=${key}`, '{"steps":5}');
  if (s.status !== 202) throw new Error(s.body);
  const id = JSON.parse(s.body).id;
  for (;;) {
    const r = JSON.parse((await call("GET", `/runtime/webhooks/durabletask/instances/${id}?code=${key}`)).body);
    if (r.runtimeStatus === "Completed") {
      // The host's own times (ms resolution): created -> last update (completion).
      totals.push(Date.parse(r.lastUpdatedTime) - Date.parse(r.createdTime));
      for (let k = 1; k < r.output.length; k++) gaps.push((r.output[k][0] - r.output[k - 1][1]) / 1000);
      break;
    }
    if (r.runtimeStatus === "Failed") throw new Error(JSON.stringify(r));
    // Polled every 100 ms: a tighter poll overlaps the engine's commits and opens its group-commit
    // window, which would add its wait to the very gaps measured here.
    await new Promise((res) => setTimeout(res, 100));
  }
}
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
console.log(`gap activity end -> next start (ms): p50 ${pct(gaps, 0.5).toFixed(2)} p99 ${pct(gaps, 0.99).toFixed(2)} (${gaps.length} gaps)`);
console.log(`start -> completion of a five-step sequence, (createdTime -> lastUpdatedTime, ms): p50 ${pct(totals, 0.5).toFixed(1)} p99 ${pct(totals, 0.99).toFixed(1)} (${totals.length} instances)`);
agent.destroy();
