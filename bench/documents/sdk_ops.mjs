// One bounded phase of Cosmos DB item operations with the official @azure/cosmos against a
// document endpoint on 127.0.0.1:PORT, 32 in flight (bench/sdk_instructions.sh drives it).
//   node bench/documents/sdk_ops.mjs PORT create|read|upsert|replace|delete N
// create: items 0..N-1 (database "bench", container "items", partition key /pk, 100
// partitions); read: point reads of items 0..N-1, five times over (5N reads); upsert: items
// 0..N-1 again with one field changed; replace: each item replaced with If-Match (the etags
// come first from one read feed, ~N/1000 requests); delete: items 0..N-1. Exits non-zero on the
// first failed operation. NIMBUS_BENCH_RETENTION and NIMBUS_BENCH_FULLTEXT: see below.

import { requireE2e, KEY } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");
const [port, mode, nText] = process.argv.slice(2);
const N = Number(nText);
if (!port || !["create", "read", "upsert", "replace", "delete"].includes(mode) || !(N > 0)) {
  console.error("usage: node bench/documents/sdk_ops.mjs PORT create|read|upsert|replace|delete N");
  process.exit(2);
}
const client = new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: KEY,
  connectionPolicy: { enableEndpointDiscovery: false } });
const { database } = await client.databases.createIfNotExists({ id: "bench" });
// NIMBUS_BENCH_RETENTION=<minutes>: the container keeps every change for the all-versions change
// feed (changeFeedPolicy), to measure what that costs a write.
const retention = Number(process.env.NIMBUS_BENCH_RETENTION ?? 0);
// NIMBUS_BENCH_FULLTEXT=plain|indexed: every item also has a 20-word `text` (the words of
// fulltext_query.mjs; upserts and replaces change it), and with `indexed` the container has a
// full-text index on it, to measure what the index costs a write.
const fulltext = process.env.NIMBUS_BENCH_FULLTEXT ?? "";
const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] },
  ...(retention > 0 ? { changeFeedPolicy: { retentionDuration: retention } } : {}),
  ...(fulltext ? { fullTextPolicy: { defaultLanguage: "en-US", fullTextPaths: [{ path: "/text" }] } } : {}),
  ...(fulltext === "indexed" ? { indexingPolicy: { fullTextIndexes: [{ path: "/text" }] } } : {}) });
function words(i) {
  let x = BigInt(i) * 2654435761n + 1n;
  const out = [];
  for (let w = 0; w < 20; w++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn;
    const k = Math.floor(Math.pow(200, Number(x >> 11n) / 9007199254740992)) - 1;
    out.push(k === 0 ? "red" : k === 1 ? "bicycle" : `w${k}`);
  }
  return out.join(" ");
}
const doc = (i, v) => ({ id: `item-${i}`, pk: `p${i % 100}`, n: i, v, tag: `t${i % 37}`, name: `name ${i}`,
  ...(fulltext ? { text: words(i * 3 + v) } : {}) });
async function pool(n, f) {
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < n) await f(next++); }));
}
const etags = new Map();
if (mode === "replace") {
  const { resources } = await container.items.readAll({ maxItemCount: 1000 }).fetchAll();
  for (const r of resources) etags.set(r.id, r._etag);
}
const t0 = Date.now();
if (mode === "create") await pool(N, (i) => container.items.create(doc(i, 0)));
if (mode === "upsert") await pool(N, (i) => container.items.upsert(doc(i, 1)));
if (mode === "replace") await pool(N, (i) => container.item(`item-${i}`, `p${i % 100}`).replace(doc(i, 2),
  { accessCondition: { type: "IfMatch", condition: etags.get(`item-${i}`) } }));
if (mode === "delete") await pool(N, (i) => container.item(`item-${i}`, `p${i % 100}`).delete());
if (mode === "read") for (let r = 0; r < 5; r++) await pool(N, (i) => container.item(`item-${i}`, `p${i % 100}`).read());
console.log(JSON.stringify({ mode, operations: mode === "read" ? 5 * N : N, ms: Date.now() - t0 }));
