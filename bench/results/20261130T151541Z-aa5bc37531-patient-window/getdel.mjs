// A/B of closed-loop get+delete (8 loops) and puts (64 in flight) on two queue server builds, alternating.
import { createRequire } from "node:module";
import { join } from "node:path";
import { readFileSync } from "node:fs";
const require = createRequire(join("/work/main/tests/e2e", "package.json"));
const { QueueServiceClient } = require("@azure/storage-queue");
const { startQueueServer, connectionString } = await import("/work/main/tests/e2e/lib/queue_server.mjs");
const bins = process.argv.slice(2);
function cpu(pid) { const r = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(r[11]) + Number(r[12])) / 100; }
async function pool(n, fn) { await Promise.all(Array.from({ length: n }, async () => { while (await fn()); })); }
for (let round = 0; round < 3; round++) for (const bin of bins) {
  process.env.NIMBUS_QUEUE_SERVER_BIN = bin;
  const srv = await startQueueServer();
  const q = QueueServiceClient.fromConnectionString(connectionString(srv.port)).getQueueClient("abtest");
  await q.create();
  let next = 0; const N = 3000;
  let c0 = cpu(srv.proc.pid), t0 = performance.now();
  await pool(64, async () => { if (next >= N) return false; next++; await q.sendMessage("x".repeat(64)); return true; });
  const putS = (performance.now() - t0) / 1000, putCpu = cpu(srv.proc.pid) - c0;
  let deleted = 0;
  c0 = cpu(srv.proc.pid); t0 = performance.now();
  await pool(8, async () => {
    if (deleted >= N) return false;
    const got = await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 });
    if (got.receivedMessageItems.length === 0) return deleted < N;
    for (const m of got.receivedMessageItems) { await q.deleteMessage(m.messageId, m.popReceipt); deleted++; }
    return true;
  });
  const gdS = (performance.now() - t0) / 1000, gdCpu = cpu(srv.proc.pid) - c0;
  console.log(`${bin} puts ${(N / putS).toFixed(0)}/s ${(putCpu / N * 1e6).toFixed(0)} µs/put | getdel ${(deleted / gdS).toFixed(0)}/s ${(gdCpu / deleted * 1e6).toFixed(0)} µs/op`);
  await srv.stop?.(); try { srv.proc.kill(); } catch {}
}
process.exit(0);
