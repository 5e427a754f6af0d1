// Timing program: creates one by one vs transactional batches vs bulk, and patch vs
// read+replace, through @azure/cosmos against nimbus-docs-server. Bounded: 2,000 items per
// case. Run from the repository root:
//   NIMBUS_DOCS_SERVER_BIN=build/release/nimbus-docs-server node bench/documents/items_throughput.mjs
import { startDocsServer, cosmosClient } from "../../tests/e2e/lib/docs_server.mjs";
const server = await startDocsServer();
try {
  const c = cosmosClient(server.port);
  const { database } = await c.databases.createIfNotExists({ id: "m" });
  const { container } = await database.containers.createIfNotExists({ id: "c", partitionKey: { paths: ["/pk"] } });
  const N = 2000, INFLIGHT = 32;
  async function pool(n, f) {
    let next = 0;
    await Promise.all(Array.from({ length: INFLIGHT }, async () => { while (next < n) await f(next++); }));
  }
  const time = async (label, n, f) => {
    const t0 = process.hrtime.bigint();
    await f();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`${label}: ${n} items in ${ms.toFixed(0)} ms = ${(n / ms * 1000).toFixed(0)}/s`);
  };
  await time("single creates, 32 in flight", N, () => pool(N, (i) => container.items.create({ id: `s${i}`, pk: `p${i % 20}`, n: 0 })));
  await time("transactional batches of 100 (one partition each), 4 in flight", N, async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < N / 100) {
        const b = next++;
        const r = await container.items.batch(Array.from({ length: 100 }, (_, j) => ({ operationType: "Create", resourceBody: { id: `b${b}-${j}`, pk: `bp${b}` } })), `bp${b}`);
        if (r.code !== 200) throw new Error(`batch ${b}: ${r.code}`);
      }
    }));
  });
  await time("executeBulkOperations creates", N, async () => {
    const res = await container.items.executeBulkOperations(Array.from({ length: N }, (_, i) => ({ operationType: "Create", partitionKey: `k${i % 20}`, resourceBody: { id: `k${i}`, pk: `k${i % 20}` } })));
    if (res.some((r) => r.error)) throw new Error("bulk failed");
  });
  const M = 1000;
  await time("patch incr, 32 in flight", M, () => pool(M, (i) => container.item(`s${i}`, `p${i % 20}`).patch([{ op: "incr", path: "/n", value: 1 }])));
  await time("read + replace with If-Match, 32 in flight", M, () => pool(M, async (i) => {
    const { resource } = await container.item(`s${i}`, `p${i % 20}`).read();
    resource.n += 1;
    await container.item(`s${i}`, `p${i % 20}`).replace(resource, { accessCondition: { type: "IfMatch", condition: resource._etag } });
  }));
} finally {
  await server.stop();
  server.cleanup();
}
