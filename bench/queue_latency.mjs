// Put-to-function-start latency: puts `count` messages one at a time (2 ms apart) with the
// official SDK, each carrying the wall clock (µs) at which its put began; the benchmark app's
// "latency" function answers with the difference on "lat-out". Prints p50/p99 in ms as JSON.
// Usage: node bench/queue_latency.mjs QUEUE_PORT [count]
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { QueueServiceClient } = createRequire(path.join(root, "tests/e2e/package.json"))("@azure/storage-queue");
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const port = Number(process.argv[2]);
const count = Number(process.argv[3] || 300);
const svc = QueueServiceClient.fromConnectionString(
  `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`);
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const input = svc.getQueueClient("lat-in");
const output = svc.getQueueClient("lat-out");
await input.createIfNotExists();
await output.createIfNotExists();
const putMs = [];
for (let i = 0; i < count; i++) {
  const t = nowUs();
  await input.sendMessage(String(t));
  putMs.push((nowUs() - t) / 1000);
  await sleep(2);
}
const lat = [];
const deadline = Date.now() + 60000;
while (lat.length < count && Date.now() < deadline) {
  const r = await output.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 });
  if (!r.receivedMessageItems.length) await sleep(50);
  for (const m of r.receivedMessageItems) lat.push(Number(m.messageText) / 1000);
}
const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];
console.log(JSON.stringify({ count: lat.length, p50_ms: pct(lat, 50), p99_ms: pct(lat, 99),
  put_ack_p50_ms: pct(putMs, 50), put_ack_p99_ms: pct(putMs, 99) }));
