// End-to-end: the official @azure/cosmos client (4.9.3), unmodified, against nimbus-docs-server
// for the item features of issue 9 item 2 (and vector search): partial update (item.patch, with conditions and
// If-Match), full-text and hybrid search, transactional batch (container.items.batch), bulk (executeBulkOperations and the
// older items.bulk), unique keys, and the refusals: 11 patch operations, remove of a missing
// path, incr on a string, a batch over 100 operations, a batch across partitions.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChangeFeedStartFrom, StatusCodes } from "@azure/cosmos";
import { startDocsServer, cosmosClient, signedRequest, refusal } from "./lib/docs_server.mjs";

describe("@azure/cosmos items: patch, batch, bulk, unique keys", () => {
  let server;
  let db;
  let items;   // partition key /pk
  let users;   // partition key /tenant, unique keys /email and (/first, /last)

  before(async () => {
    server = await startDocsServer();
    const c = cosmosClient(server.port);
    ({ database: db } = await c.databases.createIfNotExists({ id: "itemsdb" }));
    ({ container: items } = await db.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] } }));
    ({ container: users } = await db.containers.createIfNotExists({
      id: "users",
      partitionKey: { paths: ["/tenant"] },
      uniqueKeyPolicy: { uniqueKeys: [{ paths: ["/email"] }, { paths: ["/first", "/last"] }] },
    }));
  });

  after(async () => {
    if (server) { await server.stop(); server.cleanup(); }
  });

  test("item.patch applies set, add, replace, remove, incr and move and answers the new item", async () => {
    await items.items.create({ id: "bike", pk: "road", name: "R-410", price: 455.95, inventory: { quantity: 15 }, used: false, tags: ["r-series"] });
    const res = await items.item("bike", "road").patch([
      { op: "add", path: "/color", value: "silver" },
      { op: "remove", path: "/used" },
      { op: "set", path: "/price", value: 355.45 },
      { op: "incr", path: "/inventory/quantity", value: 10 },
      { op: "add", path: "/tags/-", value: "featured-bikes" },
      { op: "move", from: "/color", path: "/inventory/color" },
      { op: "replace", path: "/name", value: "R-420" },
      { op: "add", path: "/tags/0", value: "first" },
    ]);
    assert.equal(res.statusCode, 200);
    const d = res.resource;
    assert.equal(d.price, 355.45);
    assert.equal(d.used, undefined);
    assert.deepEqual(d.inventory, { quantity: 25, color: "silver" });
    assert.deepEqual(d.tags, ["first", "r-series", "featured-bikes"]);
    assert.equal(d.name, "R-420");
    assert.equal(res.etag, d._etag);
    const { resource: read } = await items.item("bike", "road").read();
    assert.deepEqual(read, d);
  });

  test("a patch condition that does not hold and a stale If-Match are 412; a holding one applies", async () => {
    const { resource: made } = await items.items.create({ id: "cond", pk: "c", n: 1, status: "open" });
    const failed = await refusal(items.item("cond", "c").patch({
      condition: "from c where c.status = 'closed'",
      operations: [{ op: "incr", path: "/n", value: 1 }],
    }));
    assert.equal(failed.code, StatusCodes.PreconditionFailed);
    assert.match(failed.message, /condition/);
    const ok = await items.item("cond", "c").patch({
      condition: "FROM c WHERE c.status = 'open' AND c.n = 1",
      operations: [{ op: "incr", path: "/n", value: 1 }],
    });
    assert.equal(ok.resource.n, 2);
    const stale = await refusal(items.item("cond", "c").patch([{ op: "set", path: "/n", value: 0 }],
      { accessCondition: { type: "IfMatch", condition: made._etag } }));
    assert.equal(stale.code, StatusCodes.PreconditionFailed);
    const fresh = await items.item("cond", "c").patch([{ op: "set", path: "/n", value: 0 }],
      { accessCondition: { type: "IfMatch", condition: ok.resource._etag } });
    assert.equal(fresh.resource.n, 0);
    const missing = await refusal(items.item("nope", "c").patch([{ op: "set", path: "/n", value: 0 }]));
    assert.equal(missing.code, StatusCodes.NotFound);
  });

  test("bad patches are 400 with a message naming the operation, and change nothing", async () => {
    const { resource: made } = await items.items.create({ id: "victim", pk: "v", s: "text", n: 1 });
    const eleven = Array.from({ length: 11 }, (_, i) => ({ op: "set", path: `/f${i}`, value: i }));
    const cases = [
      [eleven, /at most 10|1 to 10/],
      [[{ op: "remove", path: "/missing" }], /operation 0 \(remove "\/missing"\).*does not exist/],
      [[{ op: "incr", path: "/s", value: 1 }], /operation 0 \(incr "\/s"\).*not a number/],
      [[{ op: "set", path: "/ok", value: 1 }, { op: "replace", path: "/absent", value: 2 }], /operation 1 \(replace/],
      [[{ op: "frobnicate", path: "/n", value: 1 }], /op "frobnicate" is unknown/],
      [[{ op: "set", path: "/pk", value: "other" }], /partition key/],
    ];
    for (const [ops, says] of cases) {
      const r = await refusal(items.item("victim", "v").patch(ops));
      assert.equal(r.code, StatusCodes.BadRequest, JSON.stringify(ops));
      assert.match(r.message, says);
    }
    const { resource: after } = await items.item("victim", "v").read();
    assert.equal(after._etag, made._etag);
    assert.equal(after.ok, undefined);
  });

  test("a patched item reaches the change feed with its new _lsn", async () => {
    const cf = items.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Now() });
    assert.equal((await cf.readNext()).statusCode, StatusCodes.NotModified);
    const patched = await items.item("bike", "road").patch([{ op: "incr", path: "/inventory/quantity", value: 1 }]);
    const page = await cf.readNext();
    assert.deepEqual(page.result.map((d) => [d.id, d.inventory.quantity]), [["bike", 26]]);
    // The feed's document carries _lsn (the patch's, as its session token says); the patch's own answer does not.
    assert.equal(patched.resource._lsn, undefined);
    assert.equal(`0:-1#${page.result[0]._lsn}`, patched.headers["x-ms-session-token"]);
  });

  test("container.items.batch runs every operation in one partition and answers each", async () => {
    await items.items.create({ id: "b-old", pk: "batch", v: 1 });
    await items.items.create({ id: "b-gone", pk: "batch" });
    const res = await items.items.batch([
      { operationType: "Create", resourceBody: { id: "b-new", pk: "batch", v: 1 } },
      { operationType: "Upsert", resourceBody: { id: "b-old", pk: "batch", v: 2 } },
      { operationType: "Read", id: "b-old" },
      { operationType: "Replace", id: "b-new", resourceBody: { id: "b-new", pk: "batch", v: 5 } },
      { operationType: "Patch", id: "b-new", resourceBody: { operations: [{ op: "incr", path: "/v", value: 37 }] } },
      { operationType: "Delete", id: "b-gone" },
    ], "batch");
    assert.equal(res.code, 200);
    assert.deepEqual(res.result.map((r) => r.statusCode), [201, 200, 200, 200, 200, 204]);
    assert.equal(res.result[2].resourceBody.v, 2);
    assert.equal(res.result[4].resourceBody.v, 42);
    assert.ok(res.result[0].eTag);
    assert.equal((await items.item("b-new", "batch").read()).resource.v, 42);
    assert.equal((await items.item("b-gone", "batch").read()).statusCode, StatusCodes.NotFound);
  });

  test("a failing transactional batch applies nothing: 207, the failing status, the rest 424", async () => {
    await items.items.create({ id: "t-taken", pk: "tx", v: 1 });
    const res = await items.items.batch([
      { operationType: "Create", resourceBody: { id: "t-a", pk: "tx" } },
      { operationType: "Upsert", resourceBody: { id: "t-taken", pk: "tx", v: 99 } },
      { operationType: "Create", resourceBody: { id: "t-taken", pk: "tx" } },
      { operationType: "Create", resourceBody: { id: "t-b", pk: "tx" } },
    ], "tx");
    assert.equal(res.code, 207);
    assert.deepEqual(res.result.map((r) => r.statusCode), [424, 424, 409, 424]);
    assert.equal((await items.item("t-a", "tx").read()).statusCode, StatusCodes.NotFound);
    assert.equal((await items.item("t-taken", "tx").read()).resource.v, 1);
    // A body of another partition fails as its own operation.
    const other = await items.items.batch([
      { operationType: "Create", resourceBody: { id: "t-c", pk: "tx" } },
      { operationType: "Create", resourceBody: { id: "t-d", pk: "elsewhere" } },
    ], "tx");
    assert.equal(other.code, 207);
    assert.deepEqual(other.result.map((r) => r.statusCode), [424, 400]);
  });

  test("a batch across partitions and one over 100 operations are refused", async () => {
    // The operation names another partition: the service refuses the whole request (400),
    // which the SDK rethrows as "Batch request error".
    await assert.rejects(
      items.items.batch([
        { operationType: "Create", resourceBody: { id: "x-1", pk: "one" } },
        { operationType: "Read", id: "x-1", partitionKey: "two" },
      ], "one"),
      /one logical partition/);
    // The SDK refuses 101 operations itself; the server refuses them too when sent raw.
    const many = Array.from({ length: 101 }, (_, i) => ({ operationType: "Create", resourceBody: { id: `m${i}`, pk: "many" } }));
    await assert.rejects(items.items.batch(many, "many"), /more than 100/);
    const raw = await signedRequest(server.port, "POST", "/dbs/itemsdb/colls/items/docs", {
      link: "dbs/itemsdb/colls/items", type: "docs",
      headers: {
        "x-ms-cosmos-is-batch-request": "True", "x-ms-cosmos-batch-atomic": "True",
        "x-ms-documentdb-partitionkey": '["many"]',
      },
      body: JSON.stringify(many),
    });
    assert.equal(raw.status, 400);
    assert.match(raw.json.message, /101 operations.*1 to 100/);
    const none = await items.items.query("SELECT VALUE COUNT(1) FROM c WHERE c.pk = 'many'").fetchAll();
    assert.deepEqual(none.resources, [0]);
    const hundred = await items.items.batch(many.slice(0, 100), "many");
    assert.equal(hundred.code, 200);
    assert.equal(hundred.result.length, 100);
  });

  test("executeBulkOperations and items.bulk run each operation on its own", async () => {
    await items.items.create({ id: "k-dup", pk: "k2" });
    // executeBulkOperations (4.9.3) wants every operation's partitionKey.
    const results = await items.items.executeBulkOperations([
      { operationType: "Create", partitionKey: "k1", resourceBody: { id: "k-1", pk: "k1" } },
      { operationType: "Create", partitionKey: "k2", resourceBody: { id: "k-dup", pk: "k2" } },
      { operationType: "Upsert", partitionKey: "k3", resourceBody: { id: "k-3", pk: "k3", v: 1 } },
      { operationType: "Patch", id: "k-3", partitionKey: "k3", resourceBody: { operations: [{ op: "set", path: "/v", value: 2 }] } },
    ]);
    assert.equal(results.length, 4);
    assert.equal(results[0].response?.statusCode, 201);
    assert.equal(results[1].error?.code ?? results[1].response?.statusCode, 409);
    assert.ok([200, 201].includes(results[2].response?.statusCode));
    assert.equal(results[3].response?.statusCode, 200);
    assert.equal((await items.item("k-1", "k1").read()).statusCode, 200);
    assert.equal((await items.item("k-3", "k3").read()).resource.v, 2);
    const old = await items.items.bulk([
      { operationType: "Create", resourceBody: { id: "k-4", pk: "k4" } },
      { operationType: "Delete", id: "k-1", partitionKey: "k1" },
      { operationType: "Read", id: "k-none", partitionKey: "k4" },
    ]);
    assert.deepEqual(old.map((r) => r.statusCode), [201, 204, 404]);
    assert.equal((await items.item("k-1", "k1").read()).statusCode, StatusCodes.NotFound);
  });

  test("unique keys: a second item with the same value in the partition is 409 naming the key", async () => {
    await users.items.create({ id: "u1", tenant: "t1", email: "ada@example.org", first: "Ada", last: "Lovelace" });
    const dup = await refusal(users.items.create({ id: "u2", tenant: "t1", email: "ada@example.org", first: "A", last: "B" }));
    assert.equal(dup.code, StatusCodes.Conflict);
    assert.match(dup.message, /unique key \/email/);
    const pair = await refusal(users.items.create({ id: "u3", tenant: "t1", email: "x@example.org", first: "Ada", last: "Lovelace" }));
    assert.equal(pair.code, StatusCodes.Conflict);
    assert.match(pair.message, /\(\/first, \/last\)/);
    // Another logical partition has its own values.
    const elsewhere = await users.items.create({ id: "u2", tenant: "t2", email: "ada@example.org", first: "Ada", last: "Lovelace" });
    assert.equal(elsewhere.statusCode, 201);
    // Upsert, replace, patch and batch are checked too.
    await users.items.create({ id: "u4", tenant: "t1", email: "b@example.org", first: "B", last: "B" });
    assert.equal((await refusal(users.items.upsert({ id: "u4", tenant: "t1", email: "ada@example.org", first: "B", last: "B" }))).code, 409);
    assert.equal((await refusal(users.item("u4", "t1").replace({ id: "u4", tenant: "t1", email: "ada@example.org", first: "B", last: "B" }))).code, 409);
    assert.equal((await refusal(users.item("u4", "t1").patch([{ op: "set", path: "/email", value: "ada@example.org" }]))).code, 409);
    const batch = await users.items.batch([
      { operationType: "Create", resourceBody: { id: "u5", tenant: "t1", email: "c@example.org", first: "C", last: "C" } },
      { operationType: "Create", resourceBody: { id: "u6", tenant: "t1", email: "c@example.org", first: "D", last: "D" } },
    ], "t1");
    assert.deepEqual(batch.result.map((r) => r.statusCode), [424, 409]);
    // Deleting the holder frees the value.
    await users.item("u1", "t1").delete();
    assert.equal((await users.items.create({ id: "u7", tenant: "t1", email: "ada@example.org", first: "E", last: "E" })).statusCode, 201);
  });

  test("deleteAllItemsForPartitionKey deletes that partition's items and frees their unique values", async () => {
    for (const [id, email] of [["d1", "d1@example.org"], ["d2", "d2@example.org"], ["d3", "d3@example.org"]])
      await users.items.create({ id, tenant: "gone", email, first: id, last: "X" });
    await users.items.create({ id: "d1", tenant: "stays", email: "d1@example.org", first: "d1", last: "X" });
    const r = await users.deleteAllItemsForPartitionKey("gone");
    assert.equal(r.statusCode, 200);
    for (const id of ["d1", "d2", "d3"]) assert.equal((await users.item(id, "gone").read()).statusCode, 404);
    assert.equal((await users.item("d1", "stays").read()).statusCode, 200);
    const { resources: left } = await users.items.query("SELECT VALUE c.id FROM c WHERE c.last = 'X'").fetchAll();
    assert.deepEqual(left, ["d1"]);
    // The unique values and ids are free in that partition again; an empty partition is no error.
    assert.equal((await users.items.create({ id: "d1", tenant: "gone", email: "d1@example.org", first: "d1", last: "Y" })).statusCode, 201);
    assert.equal((await users.deleteAllItemsForPartitionKey("never-used")).statusCode, 200);
  });

  test("raw batch bodies that are not operations are 400 naming the operation and the fix", async () => {
    const send = (body, headers = {}) => signedRequest(server.port, "POST", "/dbs/itemsdb/colls/items/docs", {
      link: "dbs/itemsdb/colls/items", type: "docs",
      headers: { "x-ms-cosmos-is-batch-request": "True", "x-ms-cosmos-batch-atomic": "True", "x-ms-documentdb-partitionkey": '["r"]', ...headers },
      body,
    });
    const cases = [
      ["{}", /not a JSON array/],
      ["[]", /0 operations/],
      ['[{"operationType":"Explode"}]', /Batch operation 0 has operationType "Explode"/],
      ['[{"operationType":"Create"}]', /Batch operation 0 \(Create\) has no "resourceBody"/],
      ['[{"operationType":"Read"}]', /has no "id"/],
      ['[{"operationType":"Patch","id":"a","resourceBody":{"operations":[]}}]', /1 to 10/],
    ];
    for (const [body, says] of cases) {
      const r = await send(body);
      assert.equal(r.status, 400, body);
      assert.match(r.json.message, says);
    }
    const noPk = await send('[{"operationType":"Read","id":"a"}]', { "x-ms-documentdb-partitionkey": "" });
    assert.equal(noPk.status, 400);
    assert.match(noPk.json.message, /names its logical partition/);
  });

  test("vector search: vectorEmbeddingPolicy is kept and gives VectorDistance its default function, ORDER BY VectorDistance gives the most similar first, a vector index reads only the best items, a vector index without an embedding is 400", async () => {
    const policy = { vectorEmbeddings: [{ path: "/v", dataType: "float32", dimensions: 2, distanceFunction: "cosine" }] };
    const { container: vec, resource } = await db.containers.createIfNotExists({
      id: "vectors", partitionKey: { paths: ["/pk"] }, vectorEmbeddingPolicy: policy, indexingPolicy: { vectorIndexes: [{ path: "/v", type: "flat" }] } });
    assert.deepEqual(resource.vectorEmbeddingPolicy, policy);
    for (const [id, v] of [["east", [1, 0]], ["northeast", [0.6, 0.8]], ["north", [0, 1]]]) await vec.items.create({ id, pk: "p", v });
    const cosine = "SELECT TOP 2 c.id, VectorDistance(c.v, [1, 0]) AS score FROM c ORDER BY VectorDistance(c.v, [1, 0])";
    const { resources: near } = await vec.items.query(cosine).fetchAll();
    assert.deepEqual(near.map((r) => r.id), ["east", "northeast"]);
    assert.equal(near[0].score, 1);
    // The vector index scores the vectors from its rows and reads only the best item (query
    // metrics), for the vector as a literal or as a parameter, with or without RANK.
    for (const query of [{ query: "SELECT TOP 1 VALUE c.id FROM c ORDER BY VectorDistance(c.v, [0.5, 0.6])" },
      { query: "SELECT TOP 1 VALUE c.id FROM c ORDER BY RANK VectorDistance(c.v, @q)", parameters: [{ name: "@q", value: [0.5, 0.6] }] }]) {
      const page = await vec.items.query(query, { populateQueryMetrics: true }).fetchNext();
      assert.deepEqual(page.resources, ["northeast"], query.query);
      assert.equal(Object.values(page.queryMetrics)[0].retrievedDocumentCount, 1, query.query);
    }
    const euclid = "SELECT VALUE c.id FROM c ORDER BY VectorDistance(c.v, [0, 1], false, {distanceFunction: 'euclidean'})";
    assert.deepEqual((await vec.items.query(euclid).fetchAll()).resources, ["north", "northeast", "east"]);
    // The container's policy gives the distance function when the query names none.
    const { container: euclidean } = await db.containers.createIfNotExists({ id: "vectors-euclidean", partitionKey: { paths: ["/pk"] },
      vectorEmbeddingPolicy: { vectorEmbeddings: [{ path: "/v", dataType: "float32", dimensions: 2, distanceFunction: "euclidean" }] } });
    for (const [id, v] of [["east", [1, 0]], ["far-east", [5, 0]], ["north", [0, 1]]]) await euclidean.items.create({ id, pk: "p", v });
    const nearest = "SELECT c.id, VectorDistance(c.v, [4, 0]) AS d FROM c ORDER BY VectorDistance(c.v, [4, 0])";
    assert.deepEqual((await euclidean.items.query(nearest).fetchAll()).resources, [{ id: "far-east", d: 1 }, { id: "east", d: 3 }, { id: "north", d: Math.sqrt(17) }]);
    const bad = await refusal(db.containers.create({ id: "vectors-bad", vectorEmbeddingPolicy: policy, indexingPolicy: { vectorIndexes: [{ path: "/w", type: "flat" }] } }));
    assert.equal(bad.code, 400);
    assert.match(bad.message, /w not matching in Embedding's path/);
  });

  test("full-text and hybrid search: fullTextPolicy is kept, FullTextContains matches phrases, ORDER BY RANK FullTextScore and RRF give one order whether the server ranks or the SDK runs the hybrid plan", async () => {
    const fullTextPolicy = { defaultLanguage: "en-US", fullTextPaths: [{ path: "/body", language: "en-US" }] };
    const { container: texts, resource } = await db.containers.createIfNotExists({
      id: "texts", partitionKey: { paths: ["/pk"] }, fullTextPolicy,
      indexingPolicy: { fullTextIndexes: [{ path: "/body" }] },
      vectorEmbeddingPolicy: { vectorEmbeddings: [{ path: "/v", dataType: "float32", dimensions: 2, distanceFunction: "cosine" }] } });
    assert.deepEqual(resource.fullTextPolicy, fullTextPolicy);
    assert.deepEqual(resource.indexingPolicy.fullTextIndexes, [{ path: "/body" }]);
    const docs = [
      ["a", "The red bicycle is fast", [1, 0]], ["b", "red red red cars", [0, 1]],
      ["c", "A blue bicycle with red bells", [0.7, 0.7]], ["d", "Nothing to see here", [0.2, 0.9]],
      ["e", "Red bicycles, red bicycles everywhere", [0.9, 0.1]], ["f", "bicycles", [0.45, 0.55]],
    ];
    // Items in several logical partitions: the statistics cover the container.
    for (const [id, body, v] of docs) await texts.items.create({ id, pk: `p${id.charCodeAt(0) % 3}`, body, v });

    const phrase = "SELECT VALUE c.id FROM c WHERE FullTextContains(c.body, 'red bicycle') ORDER BY c.id";
    assert.deepEqual((await texts.items.query(phrase).fetchAll()).resources, ["a", "e"]);
    const any = "SELECT VALUE c.id FROM c WHERE FullTextContainsAny(c.body, 'cars', 'bells') ORDER BY c.id";
    assert.deepEqual((await texts.items.query(any).fetchAll()).resources, ["b", "c"]);

    // The same queries answered by the server (the SDK's default) and through the hybrid plan
    // (forceQueryPlan: statistics query, component queries, RRF in the client).
    let componentQueries = 0;
    const planned = cosmosClient(server.port, {
      plugins: [{ on: "request", plugin: async (context, _node, next) => {
        if (typeof context.body === "string" && context.body.includes("_FullTextScore") && context.body.includes(" AS orderByItems")) componentQueries++;
        return next(context);
      } }],
    }).database("itemsdb").container("texts");
    const ranked = [
      ["SELECT TOP 4 c.id FROM c ORDER BY RANK FullTextScore(c.body, 'red', 'bicycle')", ["e", "a", "c", "b"]],
      ["SELECT TOP 3 c.id FROM c WHERE c.id != 'e' ORDER BY RANK FullTextScore(c.body, ['bicycle'])", ["f", "a", "c"]],
      // No two fused scores are equal here: the service leaves the order of ties open.
      ["SELECT TOP 4 c.id FROM c ORDER BY RANK RRF(FullTextScore(c.body, 'red'), VectorDistance(c.v, [0, 1]), [1, 0.4])", ["b", "e", "a", "c"]],
      ["SELECT c.id FROM c ORDER BY RANK RRF(FullTextScore(c.body, 'bicycle'), VectorDistance(c.v, [1, 0]), [2, 1]) OFFSET 1 LIMIT 3", ["e", "a", "c"]],
    ];
    for (const [query, expected] of ranked) {
      const direct = (await texts.items.query(query).fetchAll()).resources.map((r) => r.id);
      assert.deepEqual(direct, expected, query);
      const before = componentQueries;
      const viaPlan = (await planned.items.query(query, { forceQueryPlan: true }).fetchAll()).resources.map((r) => r.id);
      assert.deepEqual(viaPlan, direct, `${query}: the hybrid plan's order`);
      assert.ok(componentQueries > before, `${query}: the SDK ran the plan's component queries`);
    }

    const outside = await refusal(texts.items.query("SELECT FullTextScore(c.body, 'red') AS s FROM c").fetchAll());
    assert.equal(outside.code, 400);
    assert.match(outside.message, /The FullTextScore function is only allowed in the ORDER BY RANK clause/);
    const direction = await refusal(texts.items.query("SELECT * FROM c ORDER BY RANK FullTextScore(c.body, 'red') DESC").fetchAll());
    assert.equal(direction.code, 400);
    assert.match(direction.message, /Specifying a sort order \(ASC or DESC\) in the ORDER BY RANK clause is not allowed/);
    const badIndex = await refusal(db.containers.create({ id: "texts-bad", fullTextPolicy, indexingPolicy: { fullTextIndexes: [{ path: "/title" }] } }));
    assert.equal(badIndex.code, 400);
    assert.match(badIndex.message, /has no path in fullTextPolicy.fullTextPaths/);
  });
});
