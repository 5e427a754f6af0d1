// End-to-end: the official @azure/cosmos client, unmodified, against nimbus-docs-server over
// http on a free port: databases, containers (pk /pk and nested /a/b), item CRUD with ETags,
// 409/412/404, read feed paging, parameterised queries (cross- and single-partition, ORDER BY,
// TOP), the change feed iterator (LatestVersion and AllVersionsAndDeletes), auth failures (wrong key, clock skew), raw bad input, and
// durability of acknowledged creates across a SIGKILL.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { CosmosClient, ChangeFeedStartFrom, ChangeFeedMode, ChangeFeedPolicy, ChangeFeedRetentionTimeSpan, StatusCodes } from "@azure/cosmos";
import { startDocsServer } from "./lib/docs_server.mjs";

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const WRONG_KEY = Buffer.alloc(64, 7).toString("base64");



function client(port, key = EMULATOR_KEY) {
  return new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key, connectionPolicy: { enableEndpointDiscovery: true } });
}

// A raw request signed as cosmos.md §2 says (for what the SDK never sends).
async function raw(port, method, path, { link = "", type = "", body, headers = {}, date, key = EMULATOR_KEY } = {}) {
  const d = date || new Date().toUTCString();
  const text = `${method.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${d.toLowerCase()}\n\n`;
  const sig = crypto.createHmac("sha256", Buffer.from(key, "base64")).update(text, "utf8").digest("base64");
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: encodeURIComponent(`type=master&ver=1.0&sig=${sig}`),
      "x-ms-date": d,
      "x-ms-version": "2020-07-15",
      "content-type": "application/json",
      ...headers,
    },
    body,
  });
  const t = await res.text();
  return { status: res.status, headers: res.headers, text: t, json: t ? JSON.parse(t) : undefined };
}

async function rejectsWith(promise, status) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, status, `status of ${e.message}`);
    return true;
  });
}

describe("Cosmos DB NoSQL endpoint with the official SDK", { timeout: 180000 }, () => {
  let server, c, database, container, nested;
  before(async () => {
    server = await startDocsServer();
    c = client(server.port);
    ({ database } = await c.databases.createIfNotExists({ id: "e2e" }));
    ({ container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] } }));
    ({ container: nested } = await database.containers.createIfNotExists({ id: "nested", partitionKey: { paths: ["/a/b"] } }));
  });
  after(async () => { await server.stop(); server.cleanup(); });

  test("account, databases and containers: read back with partitionKey, listed, 409 on duplicates", async () => {
    const { resource: account } = await c.getDatabaseAccount();
    assert.ok(account.writableLocations[0].databaseAccountEndpoint.startsWith("http://127.0.0.1:"));
    const { resource: db } = await database.read();
    assert.equal(db.id, "e2e");
    assert.ok(db._rid && db._self && db._etag && db._ts);
    const { resource: def } = await container.read();
    assert.deepEqual(def.partitionKey.paths, ["/pk"]);
    const { resource: ndef } = await nested.read();
    assert.deepEqual(ndef.partitionKey.paths, ["/a/b"]);
    const { resources: dbs } = await c.databases.readAll().fetchAll();
    assert.ok(dbs.some((d) => d.id === "e2e"));
    const { resources: colls } = await database.containers.readAll().fetchAll();
    assert.deepEqual(colls.map((x) => x.id).sort(), ["items", "nested"]);
    // The connection string form (AccountEndpoint=...;AccountKey=...;).
    const fromString = new CosmosClient(`AccountEndpoint=http://127.0.0.1:${server.port}/;AccountKey=${EMULATOR_KEY};`);
    assert.equal((await fromString.database("e2e").read()).resource.id, "e2e");
    // Queries over databases and containers run their SQL (the usual existence check).
    const exists = async (id) => (await c.databases.query({ query: "SELECT * FROM root r WHERE r.id = @id",
      parameters: [{ name: "@id", value: id }] }).fetchAll()).resources.length > 0;
    assert.equal(await exists("e2e"), true);
    assert.equal(await exists("no-such-db"), false);
    const { resources: collIds } = await database.containers.query("SELECT VALUE r.id FROM root r WHERE r.id != 'nested'").fetchAll();
    assert.deepEqual(collIds, ["items"]);
    // Throughput offers, as the service keeps them (no RU budget is enforced): a container
    // without throughput gets 400 RU/s, readOffer() finds it, offer.replace() changes it.
    const { resource: offer, offer: handle } = await container.readOffer();
    assert.equal(offer.offerResourceId, def._rid);
    assert.equal(offer.content.offerThroughput, 400);
    const { resource: raised } = await handle.replace({ ...offer, content: { ...offer.content, offerThroughput: 1000 } });
    assert.equal(raised.content.offerThroughput, 1000);
    assert.equal((await c.offer(offer.id).read()).resource.content.offerThroughput, 1000);
    await rejectsWith(handle.replace({ ...raised, _rid: "NotAllowed" }), 400);
    await rejectsWith(handle.replace({ ...raised, content: { offerThroughput: 450 } }), 400);
    // Autoscale on a container, shared throughput on a database; a database without any has none.
    const { container: scaled } = await database.containers.create({ id: "scaled", partitionKey: { paths: ["/pk"] }, maxThroughput: 50000 });
    const { resource: scaledOffer } = await scaled.readOffer();
    assert.equal(scaledOffer.content.offerAutopilotSettings.maxThroughput, 50000);
    assert.equal((await database.readOffer()).resource, undefined);
    const { database: shared } = await c.databases.create({ id: "shared-tp", throughput: 500 });
    assert.equal((await shared.readOffer()).resource.content.offerThroughput, 500);
    const { container: inShared } = await shared.containers.create({ id: "in", partitionKey: { paths: ["/pk"] } });
    assert.equal((await inShared.readOffer()).resource, undefined);
    await rejectsWith(c.databases.create({ id: "bad-tp", throughput: 250 }), 400);
    const before = (await c.offers.readAll().fetchAll()).resources.length;
    await scaled.delete();
    await shared.delete();
    assert.equal((await c.offers.readAll().fetchAll()).resources.length, before - 2);
    await rejectsWith(c.offer(scaledOffer.id).read(), 404);
    // Conflicts arise only between regions: the feed is empty, as a single region's is.
    assert.deepEqual((await container.conflicts.readAll().fetchAll()).resources, []);
    // The item count, as read({populateQuotaInfo: true}) reports it.
    const usage = (await container.read({ populateQuotaInfo: true })).headers["x-ms-resource-usage"];
    assert.match(usage, /documentsCount=\d+/);
    // Computed properties: queries read them (select, filter, order), SELECT * does not show
    // them, a replace changes them, and a definition that is not SELECT VALUE ... FROM c is 400.
    const { container: cp } = await database.containers.create({ id: "computed", partitionKey: { paths: ["/pk"] },
      computedProperties: [{ name: "lower", query: "SELECT VALUE LOWER(c.name) FROM c" }] });
    await cp.items.create({ id: "1", pk: "p", name: "Beta" });
    await cp.items.create({ id: "2", pk: "p", name: "alpha" });
    assert.deepEqual((await cp.items.query("SELECT c.id, c.lower FROM c WHERE c.lower >= 'a' ORDER BY c.lower").fetchAll()).resources,
      [{ id: "2", lower: "alpha" }, { id: "1", lower: "beta" }]);
    assert.equal((await cp.items.query("SELECT * FROM c WHERE c.lower = 'beta'").fetchAll()).resources[0].lower, undefined);
    const { resource: cpdef } = await cp.read();
    assert.deepEqual(cpdef.computedProperties, [{ name: "lower", query: "SELECT VALUE LOWER(c.name) FROM c" }]);
    await cp.replace({ ...cpdef, computedProperties: [] });
    assert.deepEqual((await cp.items.query("SELECT VALUE c.lower FROM c").fetchAll()).resources, []);
    await assert.rejects(database.containers.create({ id: "computed-bad", partitionKey: { paths: ["/pk"] },
      computedProperties: [{ name: "x", query: "SELECT VALUE c.a FROM c WHERE c.b = 1" }] }), (e) => {
      assert.equal(e.code, 400);
      assert.match(e.body.message, /computed property "x".*WHERE/);
      return true;
    });
    await cp.delete();
    // Geospatial: ST_ functions in queries; a Geometry spatial index needs a bounding box,
    // a Geography one takes none (400 naming boundingBox).
    const { container: geo } = await database.containers.create({ id: "geo", partitionKey: { paths: ["/pk"] },
      indexingPolicy: { spatialIndexes: [{ path: "/loc/?", types: ["Point"] }] } });
    await geo.items.create({ id: "oslo", pk: "p", loc: { type: "Point", coordinates: [10.75, 59.91] } });
    await geo.items.create({ id: "bergen", pk: "p", loc: { type: "Point", coordinates: [5.32, 60.39] } });
    const near = await geo.items.query({ query: "SELECT VALUE c.id FROM c WHERE ST_DISTANCE(c.loc, @here) < 50000",
      parameters: [{ name: "@here", value: { type: "Point", coordinates: [10.7, 59.9] } }] }).fetchAll();
    assert.deepEqual(near.resources, ["oslo"]);
    assert.equal((await geo.read()).resource.geospatialConfig.type, "Geography");
    for (const [geospatialConfig, box] of [[{ type: "Geometry" }, undefined], [{ type: "Geography" }, { xmin: 0, ymin: 0, xmax: 1, ymax: 1 }]])
      await assert.rejects(database.containers.create({ id: "geo-bad", partitionKey: { paths: ["/pk"] }, geospatialConfig,
        indexingPolicy: { spatialIndexes: [{ path: "/loc/?", types: ["Point"], ...(box ? { boundingBox: box } : {}) }] } }), (e) => {
        assert.equal(e.code, 400);
        assert.match(e.body.message, /boundingBox/);
        return true;
      });
    await geo.delete();
    // A container's defaultTtl and indexingPolicy can be replaced; its partition key cannot.
    assert.equal((await container.replace(def)).statusCode, 200);
    const { resource: withTtl } = await container.replace({ ...def, defaultTtl: 60 });
    assert.equal(withTtl.defaultTtl, 60);
    assert.equal((await container.read()).resource.defaultTtl, 60);
    const { defaultTtl, ...withoutTtl } = withTtl;
    assert.equal((await container.replace(withoutTtl)).resource.defaultTtl, undefined);
    await assert.rejects(container.replace({ ...def, partitionKey: { paths: ["/other"], kind: "Hash" } }), (e) => {
      assert.equal(e.code, 400);
      assert.match(e.body.message, /partition key .* cannot change/);
      return true;
    });
    await rejectsWith(c.databases.create({ id: "e2e" }), 409);
    await rejectsWith(database.containers.create({ id: "items", partitionKey: { paths: ["/pk"] } }), 409);
    const { database: tmp } = await c.databases.create({ id: "temp-db" });
    await tmp.delete();
    await rejectsWith(tmp.read(), 404);
  });

  test("create, read, upsert, replace with If-Match (412 when stale), delete; 409 on a duplicate id", async () => {
    const created = await container.items.create({ id: "item1", pk: "p1", n: 1 });
    assert.equal(created.statusCode, 201);
    assert.ok(created.requestCharge > 0);
    assert.ok(created.headers["x-ms-activity-id"]);
    // The session token's owner (by path and by the container's _rid), without which the SDK
    // keeps no session token.
    assert.equal(created.headers["x-ms-alt-content-path"], "dbs/e2e/colls/items");
    assert.equal(created.headers["x-ms-content-path"], (await container.read()).resource._rid);
    assert.match(created.headers["x-ms-session-token"], /^0:-1#\d+$/);
    const { resource: item, etag } = await container.item("item1", "p1").read();
    assert.equal(item.n, 1);
    assert.equal(item._etag, etag);
    assert.ok(item._rid && item._self && item._ts && item._attachments);
    // As on the service, _lsn shows only in the change feed: a replaced item reads back as it
    // was sent, plus _etag and _ts (the SDK's own bulk tests compare them so).
    assert.equal(item._lsn, undefined);
    const { resource: other } = await container.items.create({ id: "sent-back", pk: "p1", n: 7 });
    const { resource: sentBack } = await container.item("sent-back", "p1").replace(other);
    const strip = ({ _etag, _ts, ...rest }) => rest;
    assert.deepEqual(strip(sentBack), strip(other));
    await container.item("sent-back", "p1").delete();
    await rejectsWith(container.items.create({ id: "item1", pk: "p1" }), 409);
    // The same id in another logical partition is another item.
    assert.equal((await container.items.create({ id: "item1", pk: "p2" })).statusCode, 201);

    const up1 = await container.items.upsert({ id: "item2", pk: "p1", n: 2 });
    assert.equal(up1.statusCode, 201);
    const up2 = await container.items.upsert({ id: "item2", pk: "p1", n: 3 });
    assert.equal(up2.statusCode, 200);
    assert.equal(up2.resource.n, 3);

    const replaced = await container.item("item1", "p1").replace(
      { id: "item1", pk: "p1", n: 10 }, { accessCondition: { type: "IfMatch", condition: etag } });
    assert.equal(replaced.statusCode, 200);
    assert.notEqual(replaced.etag, etag);
    await rejectsWith(container.item("item1", "p1").replace(
      { id: "item1", pk: "p1", n: 11 }, { accessCondition: { type: "IfMatch", condition: etag } }), 412);
    const { resource: after } = await container.item("item1", "p1").read();
    assert.equal(after.n, 10);

    // If-None-Match with the current etag: 304, no body.
    const notModified = await container.item("item1", "p1").read({ accessCondition: { type: "IfNoneMatch", condition: replaced.etag } });
    assert.equal(notModified.statusCode, 304);

    const del = await container.item("item2", "p1").delete();
    assert.equal(del.statusCode, 204);
    const gone = await container.item("item2", "p1").read();
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.resource, undefined);
    await rejectsWith(container.item("item2", "p1").delete(), 404);
  });

  test("nested partition key path /a/b", async () => {
    await nested.items.create({ id: "n1", a: { b: "x" }, v: 1 });
    await nested.items.create({ id: "n2", a: { b: "y" }, v: 2 });
    const { resource } = await nested.item("n1", "x").read();
    assert.equal(resource.v, 1);
    assert.equal((await nested.item("n1", "y").read()).statusCode, 404);
    const { resources } = await nested.items.query("SELECT VALUE c.id FROM c", { partitionKey: "y" }).fetchAll();
    assert.deepEqual(resources, ["n2"]);
  });

  test("read feed pages with x-ms-max-item-count and continuations", async () => {
    const { container: feed } = await database.containers.create({ id: "feed", partitionKey: { paths: ["/pk"] } });
    for (let i = 0; i < 23; i++) await feed.items.create({ id: `f${String(i).padStart(2, "0")}`, pk: `p${i % 4}` });
    const it = feed.items.readAll({ maxItemCount: 5 });
    const seen = [];
    let pages = 0;
    while (it.hasMoreResults()) {
      const { resources } = await it.fetchNext();
      if (resources.length === 0 && !it.hasMoreResults()) break;
      assert.ok(resources.length <= 5);
      seen.push(...resources.map((r) => r.id));
      pages++;
    }
    assert.equal(seen.length, 23);
    assert.equal(new Set(seen).size, 23);
    assert.ok(pages >= 5, `pages ${pages}`);
    const { resources: all } = await feed.items.readAll().fetchAll();
    assert.equal(all.length, 23);
  });

  test("parameterised queries: cross-partition and single-partition, ORDER BY and TOP, paging", async () => {
    const { container: q } = await database.containers.create({ id: "query", partitionKey: { paths: ["/pk"] } });
    for (let i = 0; i < 30; i++) await q.items.create({ id: `q${i}`, pk: `p${i % 3}`, score: (i * 7) % 30, kind: i % 2 ? "odd" : "even" });
    const spec = {
      query: "SELECT TOP @n c.id, c.score FROM c WHERE c.kind = @k AND c.score >= @min ORDER BY c.score DESC",
      parameters: [{ name: "@n", value: 4 }, { name: "@k", value: "odd" }, { name: "@min", value: 5 }],
    };
    const { resources: cross } = await q.items.query(spec).fetchAll();
    const expected = [];
    for (let i = 0; i < 30; i++) if (i % 2 && (i * 7) % 30 >= 5) expected.push({ id: `q${i}`, score: (i * 7) % 30 });
    expected.sort((a, b) => b.score - a.score);
    assert.deepEqual(cross, expected.slice(0, 4));

    const { resources: single } = await q.items.query(
      { query: "SELECT VALUE c.score FROM c WHERE c.score >= @min ORDER BY c.score", parameters: [{ name: "@min", value: 10 }] },
      { partitionKey: "p1" }).fetchAll();
    const exp1 = [];
    for (let i = 1; i < 30; i += 3) if ((i * 7) % 30 >= 10) exp1.push((i * 7) % 30);
    assert.deepEqual(single, exp1.sort((a, b) => a - b));

    // Paged: three rows a page, every row once, in order.
    const it = q.items.query("SELECT VALUE c.score FROM c ORDER BY c.score", { maxItemCount: 3 });
    const rows = [];
    while (it.hasMoreResults()) {
      const { resources } = await it.fetchNext();
      assert.ok(resources.length <= 3);
      rows.push(...resources);
    }
    assert.equal(rows.length, 30);
    assert.deepEqual(rows, [...rows].sort((a, b) => a - b));

    const { resources: count } = await q.items.query("SELECT VALUE COUNT(1) FROM c").fetchAll();
    assert.deepEqual(count, [30]);
    // Query metrics (populateQueryMetrics): an indexed range reads only what it returns, a
    // filter no index answers reads the whole container.
    const metricsOf = async (sql) => {
      const page = await q.items.query(sql, { populateQueryMetrics: true, maxItemCount: 100 }).fetchNext();
      const m = Object.values(page.queryMetrics)[0];
      return { out: page.resources.length, retrieved: m.retrievedDocumentCount, output: m.outputDocumentCount };
    };
    assert.deepEqual(await metricsOf("SELECT * FROM c WHERE c.score >= 25"), { out: 5, retrieved: 5, output: 5 });
    assert.deepEqual(await metricsOf("SELECT * FROM c WHERE c.score % 10 = 3"), { out: 3, retrieved: 30, output: 3 });
    // An aggregate with an ORDER BY (one row: the order changes nothing), as the service answers.
    const { resources: maxOdd } = await q.items.query("SELECT VALUE MAX(c.score) FROM c WHERE c.kind = 'odd' ORDER BY c.score").fetchAll();
    assert.deepEqual(maxOdd, [Math.max(...expected.map((e) => e.score))]);
    // A syntax error: 400 naming the position.
    await assert.rejects(q.items.query("SELECT * FROM c WHERE").fetchAll(), (e) => {
      assert.equal(e.code, 400);
      assert.match(e.message, /position|syntax/i);
      return true;
    });
  });

  test("change feed iterator: from the beginning, then nothing new (304), then a new write", async () => {
    const { container: cf } = await database.containers.create({ id: "cf", partitionKey: { paths: ["/pk"] } });
    await cf.items.create({ id: "a", pk: "p1", v: 1 });
    await cf.items.create({ id: "b", pk: "p2", v: 1 });
    await cf.items.upsert({ id: "a", pk: "p1", v: 2 });
    const it = cf.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
    const first = await it.readNext();
    assert.equal(first.statusCode, 200);
    // The latest version of each item, in _lsn order.
    assert.deepEqual(first.result.map((d) => [d.id, d.v]), [["b", 1], ["a", 2]]);
    assert.ok(first.result[0]._lsn < first.result[1]._lsn);
    const none = await it.readNext();
    assert.equal(none.statusCode, StatusCodes.NotModified);
    assert.equal(none.result.length, 0);
    await cf.items.create({ id: "c", pk: "p1", v: 1 });
    const next = await it.readNext();
    assert.equal(next.statusCode, 200);
    assert.deepEqual(next.result.map((d) => d.id), ["c"]);

    // A continuation token resumes in a new iterator.
    const resumed = cf.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Continuation(next.continuationToken) });
    assert.equal((await resumed.readNext()).statusCode, StatusCodes.NotModified);
    // One partition key, from the beginning.
    const p1 = cf.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning("p1") });
    const r1 = await p1.readNext();
    assert.deepEqual(r1.result.map((d) => d.id), ["a", "c"]);
    // From now: nothing until the next write.
    const now = cf.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Now() });
    assert.equal((await now.readNext()).statusCode, StatusCodes.NotModified);
    await cf.items.create({ id: "d", pk: "p2" });
    assert.deepEqual((await now.readNext()).result.map((d) => d.id), ["d"]);
  });

  test("a wrong key is 401 with the string the server signed; x-ms-date 16 minutes off is 403", async () => {
    const bad = client(server.port, WRONG_KEY);
    await assert.rejects(bad.database("e2e").read(), (e) => {
      assert.equal(e.code, 401);
      assert.equal(e.body?.code, "Unauthorized");
      // The first request the client signs is the account read (GET /: type and link empty).
      assert.match(e.body?.message, /payload to sign: 'get\\n/);
      return true;
    });
    const old = new Date(Date.now() - 16 * 60 * 1000).toUTCString();
    const r = await raw(server.port, "GET", "/dbs/e2e", { type: "dbs", link: "dbs/e2e", date: old });
    assert.equal(r.status, 403);
    assert.equal(r.json.code, "Forbidden");
    const ok = await raw(server.port, "GET", "/dbs/e2e", { type: "dbs", link: "dbs/e2e" });
    assert.equal(ok.status, 200);
    const unsigned = await fetch(`http://127.0.0.1:${server.port}/dbs`);
    assert.equal(unsigned.status, 401);
    assert.equal((await unsigned.json()).code, "Unauthorized");
  });

  test("bad input gets 400 with JSON {code, message}; the server keeps serving", async () => {
    const link = "dbs/e2e/colls/items";
    const h = { "x-ms-documentdb-partitionkey": '["p1"]' };
    let r = await raw(server.port, "POST", `/${link}/docs`, { type: "docs", link, body: "{not json", headers: h });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, "BadRequest");
    assert.match(r.json.message, /JSON/);
    r = await raw(server.port, "POST", `/${link}/docs`, { type: "docs", link, body: '{"id":"x","pk":"p1"}', headers: { "x-ms-documentdb-partitionkey": "p1" } });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /x-ms-documentdb-partitionkey/);
    r = await raw(server.port, "POST", `/${link}/docs`, { type: "docs", link, body: '{"id":"x","pk":"p2"}', headers: h });
    assert.equal(r.status, 400);
    r = await raw(server.port, "GET", `/${link}/docs`, { type: "docs", link, headers: { "x-ms-continuation": "garbage" } });
    assert.equal(r.status, 400);
    r = await raw(server.port, "GET", `/${link}/docs`, { type: "docs", link, headers: { "a-im": "Incremental feed", "if-none-match": "\"abc\"" } });
    assert.equal(r.status, 400);
    r = await raw(server.port, "GET", "/dbs/nope/colls/none/docs/x", { type: "docs", link: "dbs/nope/colls/none/docs/x", headers: h });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, "NotFound");
    // Query plan request: always 200 with a plan.
    r = await raw(server.port, "POST", `/${link}/docs`, {
      type: "docs", link, body: JSON.stringify({ query: "SELECT * FROM c ORDER BY c.n" }),
      headers: { "x-ms-cosmos-is-query-plan-request": "True", "content-type": "application/query+json" },
    });
    assert.equal(r.status, 200);
    assert.ok(r.json.queryInfo);
    // Ids the service refuses, nesting 10,000 deep, a number beyond double, oversized items.
    for (const [body, status, code, re] of [
      ['{"id":"a/b","pk":"p1"}', 400, "BadRequest", /'\/'/],
      ['{"id":"a#b","pk":"p1"}', 400, "BadRequest", /'#'/],
      ['{"id":"deep","pk":"p1","a":' + "[".repeat(10000) + "]".repeat(10000) + "}", 400, "BadRequest", /deep/],
      ['{"id":"num","pk":"p1","v":1e400}', 400, "BadRequest", /double/],
      // A zero with a huge exponent: Boost.JSON 1.81 reads it as NaN (found by cosmos_patch_fuzz).
      ['{"id":"nan","pk":"p1","v":0e+808}', 400, "BadRequest", /double/],
      ['{"id":"big","pk":"p1","s":"' + "x".repeat(3 << 20) + '"}', 413, "RequestEntityTooLarge", /2 MB/],
      ['{"id":"huge","pk":"p1","s":"' + "x".repeat(5 << 20) + '"}', 413, "RequestEntityTooLarge", /bytes/],
    ]) {
      r = await raw(server.port, "POST", `/${link}/docs`, { type: "docs", link, body, headers: h });
      assert.equal(r.status, status, body.slice(0, 40));
      assert.equal(r.json.code, code);
      assert.match(r.json.message, re);
    }
    // Databases and containers refuse '?' and a trailing space, as the service does (items take them).
    for (const [path, type, rlink, id, re] of [["/dbs", "dbs", "", "trailing ", /space/], [`/dbs/e2e/colls`, "colls", "dbs/e2e", "what?", /'\?'/]]) {
      r = await raw(server.port, "POST", path, { type, link: rlink, body: JSON.stringify({ id, partitionKey: { paths: ["/pk"] } }), headers: {} });
      assert.equal(r.status, 400, id);
      assert.match(r.json.message, re);
    }
    r = await raw(server.port, "GET", `/${link}/docs`, { type: "docs", link, headers: { "x-ms-max-item-count": "lots" } });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /x-ms-max-item-count/);
    await assert.rejects(container.items.query("SELECT FOO(c.x) FROM c").fetchAll(), (e) => {
      assert.equal(e.code, 400);
      assert.match(e.message, /unknown function 'FOO'/);
      return true;
    });
    const { resource } = await database.read();
    assert.equal(resource.id, "e2e");
  });

  test("ids with spaces, '?', trailing spaces and non-ASCII characters round-trip (the signature covers the decoded link)", async () => {
    // '?' and trailing spaces as the service's compute gateway takes them (the SDK's id-encoding tests).
    for (const id of ["with space", "h\u00e9llo w\u00f6rld", "\u6587\u6863-1", "a+b=c&d", "Disallowed?Chars", "Test   ", " lead"]) {
      await container.items.create({ id, pk: "u" });
      const { resource, statusCode } = await container.item(id, "u").read();
      assert.equal(statusCode, 200, id);
      assert.equal(resource.id, id);
      await container.item(id, "u").replace({ id, pk: "u", x: 1 });
      assert.equal((await container.item(id, "u").delete()).statusCode, 204);
    }
  });

  test("change feed from a time (If-Modified-Since)", async () => {
    const { container: t } = await database.containers.create({ id: "cftime", partitionKey: { paths: ["/pk"] } });
    await t.items.create({ id: "old", pk: "p" });
    // Not a wait for a state: _ts and If-Modified-Since have whole-second resolution, so the
    // two writes must fall in different seconds on either side of `since`.
    await new Promise((r) => setTimeout(r, 2100));
    const since = new Date();
    await new Promise((r) => setTimeout(r, 1100));
    await t.items.create({ id: "new", pk: "p" });
    const it = t.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Time(since) });
    const page = await it.readNext();
    assert.deepEqual(page.result.map((d) => d.id), ["new"]);
  });
});

describe("change feed AllVersionsAndDeletes mode (A-IM: Full-Fidelity Feed)", { timeout: 60000 }, () => {
  let server, database, avad;
  const policy = new ChangeFeedPolicy(ChangeFeedRetentionTimeSpan.fromMinutes(5));
  const allVersions = (container, changeFeedStartFrom, more = {}) => container.items.getChangeFeedIterator({
    changeFeedStartFrom, changeFeedMode: ChangeFeedMode.AllVersionsAndDeletes, ...more });
  // Every page until the feed answers 304; the changes, and each page's size and continuation.
  async function drain(it) {
    const changes = [], pages = [];
    for (;;) {
      const page = await it.readNext();
      if (page.statusCode === StatusCodes.NotModified) return { changes, pages, token: page.continuationToken };
      assert.equal(page.statusCode, 200);
      assert.ok(page.result.length > 0, "a 200 page carries changes");
      changes.push(...page.result);
      pages.push({ n: page.result.length, token: page.continuationToken });
    }
  }
  const summary = (changes) => changes.map(({ current, metadata: m }) =>
    [m.operationType, current?.id ?? m.id, current?.v ?? null]);
  before(async () => {
    server = await startDocsServer();
    ({ database } = await client(server.port).databases.createIfNotExists({ id: "avad" }));
    ({ container: avad } = await database.containers.create({ id: "kept", partitionKey: { paths: ["/pk"] }, changeFeedPolicy: policy }));
  });
  after(async () => { await server.stop(); server.cleanup(); });

  test("changeFeedPolicy is echoed by the container read", async () => {
    assert.deepEqual((await avad.read()).resource.changeFeedPolicy, { retentionDuration: 5 });
  });

  test("from Now: creates, every upsert version (previousImageLSN chains them) and deletes, in LSN order, then 304", async () => {
    const it = allVersions(avad, ChangeFeedStartFrom.Now());
    assert.equal((await it.readNext()).statusCode, StatusCodes.NotModified);
    await avad.items.create({ id: "a", pk: "p1", v: 1 });
    await avad.items.upsert({ id: "a", pk: "p1", v: 2 });
    await avad.items.upsert({ id: "a", pk: "p1", v: 3 });
    await avad.items.create({ id: "b", pk: "p2", v: 1 });
    await avad.item("a", "p1").delete();
    const { changes } = await drain(it);
    assert.deepEqual(summary(changes), [["create", "a", 1], ["replace", "a", 2], ["replace", "a", 3], ["create", "b", 1], ["delete", "a", null]]);
    const [create, rep1, rep2, createB, del] = changes;
    for (let i = 1; i < changes.length; i++) assert.ok(changes[i].metadata.lsn > changes[i - 1].metadata.lsn, "LSN order");
    assert.ok(create.current._rid && create.current._etag && create.current._ts);
    assert.equal(create.metadata.previousImageLSN, undefined);
    assert.ok(Number.isInteger(create.metadata.crts) && Math.abs(create.metadata.crts - Date.now() / 1000) < 600, "crts in seconds");
    assert.equal(rep1.metadata.previousImageLSN, create.metadata.lsn);
    assert.equal(rep2.metadata.previousImageLSN, rep1.metadata.lsn);
    assert.equal(createB.metadata.operationType, "create");
    assert.equal(del.current, undefined);
    assert.equal(del.metadata.previousImageLSN, rep2.metadata.lsn);
    assert.equal(del.metadata.timeToLiveExpired, false);
    assert.deepEqual([del.metadata.id, del.metadata.partitionKey], ["a", { pk: "p1" }]);
    assert.equal((await it.readNext()).statusCode, StatusCodes.NotModified);
    // LatestVersion mode on the same container: the latest version of each live item, no deletes.
    const latest = await avad.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }).readNext();
    assert.deepEqual(latest.result.map((d) => [d.id, d.v]), [["b", 1]]);
  });

  test("maxItemCount pages: every change exactly once; a continuation token resumes in a new iterator", async () => {
    const it = allVersions(avad, ChangeFeedStartFrom.Now(), { maxItemCount: 3 });
    assert.equal((await it.readNext()).statusCode, StatusCodes.NotModified);
    for (let i = 0; i < 10; i++) await avad.items.upsert({ id: `pg${i % 4}`, pk: `p${i % 3}`, v: i });
    const { changes, pages } = await drain(it);
    assert.ok(pages.length >= 4 && pages.every((p) => p.n <= 3), `pages ${JSON.stringify(pages.map((p) => p.n))}`);
    assert.deepEqual(changes.map((c) => c.current.v), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(new Set(changes.map((c) => c.metadata.lsn)).size, 10);
    // From the second page's continuation: exactly the changes after it.
    const resumed = await drain(allVersions(avad, ChangeFeedStartFrom.Continuation(pages[1].token), { maxItemCount: 3 }));
    const rest = pages[0].n + pages[1].n;
    assert.deepEqual(resumed.changes.map((c) => c.metadata.lsn), changes.slice(rest).map((c) => c.metadata.lsn));
  });

  test("a partition-scoped iterator (Now(\"p1\")) sees only that partition; deleteAllItemsForPartitionKey is one delete per item", async () => {
    const onlyP1 = allVersions(avad, ChangeFeedStartFrom.Now("p1"));
    const whole = allVersions(avad, ChangeFeedStartFrom.Now());
    assert.equal((await onlyP1.readNext()).statusCode, StatusCodes.NotModified);
    assert.equal((await whole.readNext()).statusCode, StatusCodes.NotModified);
    for (const [id, pk] of [["x1", "p1"], ["y1", "p9"], ["x2", "p1"], ["y2", "p9"], ["x3", "p1"]]) await avad.items.create({ id, pk, v: 0 });
    assert.deepEqual(summary((await drain(onlyP1)).changes), [["create", "x1", 0], ["create", "x2", 0], ["create", "x3", 0]]);
    await avad.deleteAllItemsForPartitionKey("p9");
    const { changes } = await drain(whole);
    const deletes = changes.filter((c) => c.metadata.operationType === "delete");
    assert.equal(changes.length, 5 + deletes.length);
    assert.deepEqual(deletes.map((c) => [c.metadata.id, c.metadata.partitionKey]).sort(),
      [["y1", { pk: "p9" }], ["y2", { pk: "p9" }]]);
    assert.ok(deletes.every((c) => c.current === undefined && c.metadata.timeToLiveExpired === false));
    assert.deepEqual((await drain(onlyP1)).changes, [], "p9's deletes are not p1's");
  });

  // (The change feed iterator rethrows a failure with its code and message, without the body.)
  test("400s: Beginning or Time start, a container without changeFeedPolicy (until replaced with one), retentionDuration outside 0..10080", async () => {
    for (const start of [ChangeFeedStartFrom.Beginning(), ChangeFeedStartFrom.Time(new Date(Date.now() - 60000))])
      await assert.rejects(allVersions(avad, start).readNext(), (e) => {
        assert.equal(e.code, 400);
        assert.match(e.message, /You must read the change feed from within the retention period\./);
        return true;
      });
    const { container: plain } = await database.containers.create({ id: "plain", partitionKey: { paths: ["/pk"] } });
    assert.equal((await plain.read()).resource.changeFeedPolicy, undefined);
    await assert.rejects(allVersions(plain, ChangeFeedStartFrom.Now()).readNext(), (e) => {
      assert.equal(e.code, 400);
      assert.match(e.message, /changeFeedPolicy/);
      return true;
    });
    // Replaced with a policy, the container keeps changes from then on.
    const { resource: plainDef } = await plain.read();
    assert.deepEqual((await plain.replace({ ...plainDef, changeFeedPolicy: policy })).resource.changeFeedPolicy, { retentionDuration: 5 });
    const later = allVersions(plain, ChangeFeedStartFrom.Now());
    assert.equal((await later.readNext()).statusCode, StatusCodes.NotModified);
    await plain.items.create({ id: "after", pk: "p" });
    assert.deepEqual(summary((await drain(later)).changes), [["create", "after", null]]);
    // (The SDK's ChangeFeedRetentionTimeSpan refuses a negative value itself: sent as a plain object.)
    for (const retentionDuration of [-1, 10081])
      await assert.rejects(database.containers.create({ id: `bad${retentionDuration}`, partitionKey: { paths: ["/pk"] },
        changeFeedPolicy: { retentionDuration } }), (e) => {
        assert.equal(e.code, 400);
        assert.match(e.body.message, /changeFeedPolicy/);
        return true;
      });
    const { resources: ids } = await database.containers.query("SELECT VALUE r.id FROM root r").fetchAll();
    assert.deepEqual(ids.sort(), ["kept", "plain"]);
  });
});

describe("--no-auth", { timeout: 60000 }, () => {
  test("accepts unsigned requests and any key", async () => {
    const server = await startDocsServer({ extraArgs: ["--no-auth"] });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/dbs`, { method: "POST", body: '{"id":"open"}' });
      assert.equal(res.status, 201);
      const c = client(server.port, WRONG_KEY);
      const { resource } = await c.database("open").read();
      assert.equal(resource.id, "open");
      assert.match(server.stderr(), /no-auth/);
    } finally {
      await server.stop();
      server.cleanup();
    }
  });
});

describe("durability", { timeout: 120000 }, () => {
  test("SIGKILL after N acknowledged creates: every one is there after a restart", async () => {
    const server = await startDocsServer();
    try {
      const c = client(server.port);
      const { database } = await c.databases.createIfNotExists({ id: "dur" });
      const { container } = await database.containers.createIfNotExists({ id: "c", partitionKey: { paths: ["/pk"] } });
      const acked = [];
      let stop = false;
      const writers = Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const id = `w${w}-${i}`;
          try {
            await container.items.create({ id, pk: `p${w}` });
            acked.push([id, `p${w}`]);
          } catch {
            return;
          }
          if (acked.length >= 400) stop = true;
        }
      });
      const giveUp = Date.now() + 60000;
      while (acked.length < 300) {
        assert.ok(Date.now() < giveUp, `only ${acked.length} creates acknowledged within 60 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await server.kill9();
      stop = true;
      await Promise.allSettled(writers);
      const n = acked.length;
      const again = await startDocsServer({ dataDir: server.dataDir });
      try {
        const c2 = client(again.port);
        const cont = c2.database("dur").container("c");
        const { resources } = await cont.items.query("SELECT VALUE c.id FROM c").fetchAll();
        const have = new Set(resources);
        const lost = acked.filter(([id]) => !have.has(id));
        console.log(`durability: ${n} acknowledged creates before SIGKILL, ${resources.length} present after restart, ${lost.length} lost`);
        assert.equal(lost.length, 0, `lost: ${lost.slice(0, 5).join(" ")}`);
        for (const [id, pk] of acked.slice(0, 20)) assert.equal((await cont.item(id, pk).read()).statusCode, 200);
      } finally {
        await again.stop();
      }
    } finally {
      if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
      server.cleanup();
    }
  });
});
