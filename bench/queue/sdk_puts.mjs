// N puts of a 64-byte message with the official @azure/storage-queue, 64 in flight, against a
// queue endpoint on 127.0.0.1:PORT (the development account; bench/sdk_instructions.sh).
//   node bench/queue/sdk_puts.mjs PORT N
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "tests/e2e/package.json"));
const { QueueServiceClient } = require("@azure/storage-queue");
const [port, nText] = process.argv.slice(2);
const N = Number(nText);
if (!port || !(N > 0)) {
  console.error("usage: node bench/queue/sdk_puts.mjs PORT N");
  process.exit(2);
}
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const cs = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};` +
  `QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
const q = QueueServiceClient.fromConnectionString(cs).getQueueClient("bench-put");
await q.createIfNotExists();
const t0 = Date.now();
let next = 0;
await Promise.all(Array.from({ length: 64 }, async () => { while (next++ < N) await q.sendMessage("x".repeat(64)); }));
console.log(JSON.stringify({ mode: "put", operations: N, ms: Date.now() - t0 }));
