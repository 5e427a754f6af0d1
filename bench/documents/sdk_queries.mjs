// The HTTP side of the document benchmark: the official @azure/cosmos 4.9.3 (tests/e2e's
// node_modules, unmodified), then a lean signed-HTTP client, run the benchmark's queries, one
// at a time (after 3 warm-up runs), against an endpoint
// that already holds database "bench", container "items" (or, with --load N, creates them and
// N items first through the SDK: how the peer, @vercel/cosmosdb-server, is filled). Prints one
// JSON line per figure, prefixed "result: ". Every phase is bounded by a count and a time limit;
// an error is a result with its message, never a missing row.
//   node sdk_queries.mjs --endpoint URL --label NAME --items N [--partitions P] [--iters K]
//        [--load N] [--phase-seconds S] [--reads K]
// Items as docs_bench.cc makes them: {id:"item-i", pk:"p<i%P>", n, tag:"t<i/10>", score, kind, name}.
import crypto from "node:crypto";
import http from "node:http";

import { requireE2e, KEY } from "./lib.mjs";

const { CosmosClient } = requireE2e("@azure/cosmos");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const endpoint = args.endpoint;
const label = args.label || endpoint;
const items = Number(args.items || 10000);
const partitions = Number(args.partitions || 1000);
const iters = Number(args.iters || 100);
const phaseMs = Number(args["phase-seconds"] || 30) * 1000;
const reads = Number(args.reads || 2000);

// The lean client: one keep-alive connection, master-key signed (reference §2), no SDK. It
// shows what the server answers in, without the SDK's own cost per call (~2 ms of client CPU
// on this machine, measured: the SDK, not the server, bounds its point reads and latencies).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = new URL(endpoint);
function lean(method, path, type, link, body, headers = {}) {
  const date = new Date().toUTCString();
  const text = `${method.toLowerCase()}\n${type}\n${link}\n${date.toLowerCase()}\n\n`;
  const sig = crypto.createHmac("sha256", Buffer.from(KEY, "base64")).update(text).digest("base64");
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent, host: base.hostname, port: base.port, method, path: "/" + path,
      headers: {
        authorization: encodeURIComponent(`type=master&ver=1.0&sig=${sig}`), "x-ms-date": date, "x-ms-version": "2020-07-15",
        ...(payload ? { "content-type": "application/query+json", "content-length": payload.length } : {}), ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const t = Buffer.concat(chunks).toString();
        if (res.statusCode >= 300) return reject(new Error(`${res.statusCode} ${t.slice(0, 200)}`));
        try { resolve(JSON.parse(t)); } catch (e) { reject(e); }
      });
    });
    req.on("error", reject);
    req.setTimeout(60000, () => req.destroy(new Error("timeout after 60 s")));
    if (payload) req.write(payload);
    req.end();
  });
}
function leanQuery(spec, opts) {
  const headers = { "x-ms-documentdb-isquery": "True", "x-ms-documentdb-query-enablecrosspartition": "True", "x-ms-max-item-count": "100" };
  if (opts.partitionKey !== undefined) headers["x-ms-documentdb-partitionkey"] = JSON.stringify([opts.partitionKey]);
  return lean("POST", "dbs/bench/colls/items/docs", "docs", "dbs/bench/colls/items", { query: spec.query, parameters: spec.parameters || [] }, headers)
    .then((r) => r.Documents);
}

const emit = (o) => console.log("result: " + JSON.stringify({ target: label, items, ...o }));
const client = new CosmosClient({ endpoint, key: KEY, connectionPolicy: { enableEndpointDiscovery: false } });
const item = (i) => ({
  id: `item-${i}`, pk: `p${i % partitions}`, n: i, tag: `t${Math.floor(i / 10)}`,
  score: (i * 7919) % 1000003, kind: `k${i % 10}`, name: `name ${i}`,
});
let seed = 42;
const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const pct = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : null);
const errText = (e) => String(e && (e.code ? `${e.code} ` : "") + (e && e.message ? e.message : e)).slice(0, 300);

async function main() {
  const { database } = await client.databases.createIfNotExists({ id: "bench" });
  const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] } });
  if (args.load) {
    const n = Number(args.load);
    const t0 = Date.now();
    let next = 0, done = 0, failed = 0, firstError = null;
    const deadline = t0 + Math.max(phaseMs, 120000);
    async function worker() {
      while (next < n && Date.now() < deadline) {
        const i = next++;
        try { await container.items.create(item(i)); } catch (e) { failed++; firstError ??= errText(e); }
        done++;
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker));
    const s = (Date.now() - t0) / 1000;
    emit({ step: "sdk_load", created: done - failed, failed, seconds: s, per_s: Math.round((done - failed) / s), error: firstError });
  }
  const queries = [
    { name: "single_partition_eq", rows: 1, spec: () => { const i = rand(items); return [{ query: "SELECT * FROM c WHERE c.id = @id", parameters: [{ name: "@id", value: `item-${i}` }] }, { partitionKey: `p${i % partitions}` }]; } },
    { name: "cross_partition_filter_10", rows: 10, spec: () => [{ query: "SELECT * FROM c WHERE c.tag = @tag", parameters: [{ name: "@tag", value: `t${rand(items / 10)}` }] }, {}] },
    { name: "order_by_top10", rows: 10, spec: () => [{ query: "SELECT TOP 10 * FROM c ORDER BY c.score DESC" }, {}] },
    { name: "count", rows: 1, spec: () => [{ query: "SELECT VALUE COUNT(1) FROM c" }, {}] },
  ];
  for (const [clientName, runQuery] of [["sdk", (spec, opts) => container.items.query(spec, opts).fetchAll().then((r) => r.resources)], ["lean", leanQuery]])
  for (const q of queries) {
    const ms = [];
    let error = null, rowsSeen = null;
    const deadline = Date.now() + phaseMs;
    for (let i = 0; i < iters + 3 && Date.now() < deadline; i++) {
      const [spec, opts] = q.spec();
      const t0 = process.hrtime.bigint();
      try {
        const resources = await runQuery(spec, opts);
        const t = Number(process.hrtime.bigint() - t0) / 1e6;
        rowsSeen = resources.length;
        if (resources.length !== q.rows) { error ??= `expected ${q.rows} rows, got ${resources.length}`; }
        if (q.name === "count" && resources[0] !== items) { error ??= `COUNT answered ${JSON.stringify(resources[0])}, expected ${items}`; }
        if (i >= 3) ms.push(t);
      } catch (e) {
        error ??= errText(e);
        break;
      }
    }
    ms.sort((a, b) => a - b);
    emit({ step: "query", client: clientName, query: q.name, text: q.spec()[0].query, runs: ms.length, rows: rowsSeen,
           p50_ms: pct(ms, 0.5), p99_ms: pct(ms, 0.99), max_ms: ms.length ? ms[ms.length - 1] : null, error,
           bounded_by_time: ms.length < iters });
  }
  // Point reads through the SDK, 32 in flight: the client's view of the read path.
  {
    const t0 = Date.now();
    let next = 0, ok = 0, failed = 0, firstError = null;
    const deadline = t0 + phaseMs;
    async function worker() {
      while (next < reads && Date.now() < deadline) {
        next++;
        const i = rand(items);
        try { await container.item(`item-${i}`, `p${i % partitions}`).read(); ok++; } catch (e) { failed++; firstError ??= errText(e); }
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker));
    const s = (Date.now() - t0) / 1000;
    emit({ step: "sdk_point_reads", reads: ok, failed, seconds: s, per_s: Math.round(ok / s), error: firstError });
  }
}

main().then(() => process.exit(0), (e) => { emit({ step: "sdk_fatal", error: errText(e) }); process.exit(1); });
