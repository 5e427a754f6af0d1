// End-to-end: the official @azure/cosmos client (4.9.3), unmodified, against nimbus-docs-server
// for users, permissions and resource tokens: users and permissions CRUD, clients built from a
// permission's _token (resourceTokens, permissionFeed), what a container Read, a partition-scoped
// All and an item-level All grant allow, and the refusals: 403 outside the grant, 401 for the
// token of a deleted permission or user and for a changed signature, 400/404 for bad permissions.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { CosmosClient, PermissionMode, StatusCodes } from "@azure/cosmos";
import { startDocsServer, cosmosClient, signedRequest, refusal } from "./lib/docs_server.mjs";
// The status of a call, answered or thrown (the SDK throws some 404s and answers others).
const status = (promise) => promise.then((r) => r.statusCode, (e) => e.code);

describe("@azure/cosmos access: users, permissions, resource tokens", () => {
  let server;
  let endpoint;
  let db;
  let orders;  // partition key /pk (numbers), items o1 (pk 1) and o2 (pk 2)
  let other;   // another container of the same database

  // A client that signs with resource tokens, { link or id: _token } (the SDK picks one by the
  // request's link; a container's token also serves its items), on the orders container.
  const tokenClient = (resourceTokens) => new CosmosClient({ endpoint, resourceTokens });
  const ordersWith = (token, extra = {}) =>
    tokenClient({ [orders.url]: token, ...extra }).database("accessdb").container("orders");
  // A permission of a new user, as answered (with its _token).
  async function grant(userId, body) {
    const { user } = await db.users.create({ id: userId });
    return (await user.permissions.create(body)).resource;
  }
  // A raw request signed with a resource token (a request the SDK would not sign with one).
  async function tokenRequest(method, path, token) {
    const res = await fetch(`${endpoint}${path.slice(1)}`, {
      method,
      headers: { authorization: encodeURIComponent(token), "x-ms-date": new Date().toUTCString(), "x-ms-version": "2020-07-15" },
    });
    const t = await res.text();
    return { status: res.status, json: t ? JSON.parse(t) : undefined };
  }

  before(async () => {
    server = await startDocsServer();
    endpoint = `http://127.0.0.1:${server.port}/`;
    const c = cosmosClient(server.port);
    ({ database: db } = await c.databases.createIfNotExists({ id: "accessdb" }));
    ({ container: orders } = await db.containers.createIfNotExists({ id: "orders", partitionKey: { paths: ["/pk"] } }));
    ({ container: other } = await db.containers.createIfNotExists({ id: "other", partitionKey: { paths: ["/pk"] } }));
    await orders.items.create({ id: "o1", pk: 1, total: 10 });
    await orders.items.create({ id: "o2", pk: 2, total: 20 });
    await other.items.create({ id: "x1", pk: 1 });
  });

  after(async () => {
    if (server) { await server.stop(); server.cleanup(); }
  });

  test("users: create, 409 on a duplicate, upsert 201/200, read, list, query by id, rename by replace, delete", async () => {
    const made = await db.users.create({ id: "alice" });
    assert.equal(made.statusCode, 201);
    assert.equal(made.resource.id, "alice");
    assert.ok(made.resource._rid && made.resource._self && made.resource._etag);
    assert.equal((await refusal(db.users.create({ id: "alice" }))).code, StatusCodes.Conflict);
    assert.equal((await db.users.upsert({ id: "bob" })).statusCode, 201);
    assert.equal((await db.users.upsert({ id: "bob" })).statusCode, 200);
    assert.equal((await db.user("alice").read()).resource._rid, made.resource._rid);
    const { resources: all } = await db.users.readAll().fetchAll();
    assert.deepEqual(all.map((u) => u.id).filter((id) => id === "alice" || id === "bob").sort(), ["alice", "bob"]);
    const { resources: found } = await db.users
      .query({ query: "SELECT * FROM root r WHERE r.id = @id", parameters: [{ name: "@id", value: "bob" }] })
      .fetchAll();
    assert.deepEqual(found.map((u) => u.id), ["bob"]);
    // Replace renames: the body's id; the old id is gone, a taken id is 409.
    const renamed = await db.user("bob").replace({ id: "robert" });
    assert.equal(renamed.statusCode, 200);
    assert.equal(renamed.resource.id, "robert");
    assert.equal(await status(db.user("bob").read()), StatusCodes.NotFound);
    assert.equal((await db.user("robert").read()).resource.id, "robert");
    assert.equal((await refusal(db.user("robert").replace({ id: "alice" }))).code, StatusCodes.Conflict);
    assert.equal((await db.user("robert").delete()).statusCode, StatusCodes.NoContent);
    assert.equal(await status(db.user("robert").read()), StatusCodes.NotFound);
    assert.equal(await status(db.user("robert").delete()), StatusCodes.NotFound);
  });

  test("permissions: create with _token, 409, read, list, query, mode change by replace and upsert, by-_self resource, resourcePartitionKey echoed, delete", async () => {
    const { user } = await db.users.create({ id: "perm-owner" });
    const made = await user.permissions.create({ id: "p-orders", permissionMode: PermissionMode.Read, resource: orders.url });
    assert.equal(made.statusCode, 201);
    assert.equal(made.resource.permissionMode, "read");  // the SDK's enum value, echoed as given
    assert.equal(made.resource.resource, "dbs/accessdb/colls/orders");
    assert.match(made.resource._token, /^type=resource&ver=1\.0&sig=\d+\.\d+\.\S+$/);
    const dup = await refusal(user.permissions.create({ id: "p-orders", permissionMode: "All", resource: orders.url }));
    assert.equal(dup.code, StatusCodes.Conflict);
    const read = await user.permission("p-orders").read();
    assert.equal(read.resource.permissionMode, "read");
    assert.ok(read.resource._token);
    // Replace changes the mode.
    const replaced = await user.permission("p-orders").replace({ id: "p-orders", permissionMode: "All", resource: orders.url });
    assert.equal(replaced.statusCode, 200);
    assert.equal(replaced.resource.permissionMode, "All");
    // Upsert: new (201) by the container's _self, then existing (200) with another mode and a partition key.
    const self = (await orders.read()).resource._self;
    const up = await user.permissions.upsert({ id: "p-self", permissionMode: "READ", resource: self });
    assert.equal(up.statusCode, 201);
    assert.equal(up.resource.permissionMode, "READ");
    assert.equal(up.resource.resource, self);
    const again = await user.permissions.upsert({ id: "p-self", permissionMode: "all", resource: self, resourcePartitionKey: [1] });
    assert.equal(again.statusCode, 200);
    assert.equal(again.resource.permissionMode, "all");
    assert.deepEqual(again.resource.resourcePartitionKey, [1]);
    // The by-_self permission grants the container: its token reads the partition it names.
    assert.equal((await ordersWith(again.resource._token).item("o1", 1).read()).resource.total, 10);
    const { resources: list } = await user.permissions.readAll().fetchAll();
    assert.deepEqual(list.map((p) => p.id).sort(), ["p-orders", "p-self"]);
    assert.ok(list.every((p) => p._token));
    const { resources: q } = await user.permissions.query("SELECT * FROM root r WHERE r.id = 'p-self'").fetchAll();
    assert.deepEqual(q.map((p) => [p.id, p.permissionMode]), [["p-self", "all"]]);
    assert.equal((await user.permission("p-self").delete()).statusCode, StatusCodes.NoContent);
    assert.equal(await status(user.permission("p-self").read()), StatusCodes.NotFound);
  });

  test("a container Read token reads the container, items, queries and pkranges; create, replace, delete are 403 naming the grant", async () => {
    const p = await grant("reader", { id: "read-orders", permissionMode: "Read", resource: orders.url });
    const c = ordersWith(p._token);
    assert.equal((await c.read()).resource.id, "orders");
    assert.equal((await c.item("o1", 1).read()).resource.total, 10);
    const { resources: all } = await c.items.readAll().fetchAll();
    assert.deepEqual(all.map((d) => d.id).sort(), ["o1", "o2"]);
    const { resources: big } = await c.items.query("SELECT VALUE c.id FROM c WHERE c.total > 15").fetchAll();
    assert.deepEqual(big, ["o2"]);
    const { resources: ranges } = await c.readPartitionKeyRanges().fetchAll();
    assert.ok(ranges.length >= 1);
    for (const write of [
      () => c.items.create({ id: "new", pk: 1 }),
      () => c.item("o1", 1).replace({ id: "o1", pk: 1, total: 0 }),
      () => c.item("o2", 2).delete(),
    ]) {
      const r = await refusal(write());
      assert.equal(r.code, StatusCodes.Forbidden);
      assert.match(r.message, /grants Read on dbs\/accessdb\/colls\/orders/);
    }
    assert.equal((await orders.item("o1", 1).read()).resource.total, 10);
  });

  test("the orders token presented for another container is 403; listing databases with it is 403; GET / is 200", async () => {
    const p = await grant("reader2", { id: "read-orders", permissionMode: "Read", resource: orders.url });
    const c = tokenClient({ [other.url]: p._token }).database("accessdb").container("other");
    const r = await refusal(c.item("x1", 1).read());
    assert.equal(r.code, StatusCodes.Forbidden);
    assert.match(r.message, /grants Read on dbs\/accessdb\/colls\/orders only/);
    // The SDK signs no request for /dbs with a resource token (it finds none for that path): raw.
    const dbs = await tokenRequest("GET", "/dbs", p._token);
    assert.equal(dbs.status, StatusCodes.Forbidden);
    assert.match(dbs.json.message, /grants Read on dbs\/accessdb\/colls\/orders only; this request is GET \/dbs\./);
    assert.equal((await tokenRequest("GET", "/", p._token)).status, StatusCodes.Ok);
  });

  test("a client built from permissionFeed reads with the permission's token", async () => {
    const p = await grant("feeder", { id: "feed", permissionMode: "Read", resource: orders.url });
    const c = new CosmosClient({ endpoint, permissionFeed: [p] }).database("accessdb").container("orders");
    assert.equal((await c.item("o2", 2).read()).resource.total, 20);
    const { resources } = await c.items.query("SELECT VALUE c.id FROM c WHERE c.pk = 1").fetchAll();
    assert.deepEqual(resources, ["o1"]);
  });

  test("an All token with resourcePartitionKey [1] creates an item of key 1 and is 403 for key 2, also when deleting a partition", async () => {
    const p = await grant("writer1", { id: "orders-1", permissionMode: "All", resource: orders.url, resourcePartitionKey: [1] });
    const c = ordersWith(p._token);
    assert.equal((await c.items.create({ id: "k1", pk: 1 })).statusCode, StatusCodes.Created);
    const r = await refusal(c.items.create({ id: "k2", pk: 2 }));
    assert.equal(r.code, StatusCodes.Forbidden);
    assert.match(r.message, /partition key \[1\]/);
    assert.equal((await refusal(c.item("o2", 2).read())).code, StatusCodes.Forbidden);
    assert.equal(await status(orders.item("k2", 2).read()), StatusCodes.NotFound);
    // Deleting another partition's items is outside the grant too (the later tests need
    // partition 1's items, so its own partition is not deleted here).
    await orders.items.create({ id: "k9", pk: 2 });
    assert.equal((await refusal(c.deleteAllItemsForPartitionKey(2))).code, StatusCodes.Forbidden);
    assert.equal(await status(orders.item("k9", 2).read()), 200);
  });

  test("an item-level All permission (resource = the item's _self) reads and deletes that item; another item is 403", async () => {
    const { resource: item } = await orders.items.create({ id: "o3", pk: 3, total: 30 });
    const p = await grant("item-owner", { id: "o3-all", permissionMode: "All", resource: item._self });
    assert.equal(p.resource, item._self);
    const c = ordersWith(p._token, { [`${orders.url}/docs/o3`]: p._token });
    assert.equal((await c.item("o3", 3).read()).resource.total, 30);
    const r = await refusal(c.item("o1", 1).read());
    assert.equal(r.code, StatusCodes.Forbidden);
    assert.match(r.message, /grants All on dbs\/accessdb\/colls\/orders\/docs\/o3 only/);
    assert.equal((await c.item("o3", 3).delete()).statusCode, StatusCodes.NoContent);
    assert.equal(await status(orders.item("o3", 3).read()), StatusCodes.NotFound);
  });

  test("the token of a deleted permission is 401", async () => {
    const p = await grant("revoked", { id: "soon-gone", permissionMode: "Read", resource: orders.url });
    const c = ordersWith(p._token);
    assert.equal((await c.item("o1", 1).read()).statusCode, StatusCodes.Ok);
    await db.user("revoked").permission("soon-gone").delete();
    const r = await refusal(c.item("o1", 1).read());
    assert.equal(r.code, StatusCodes.Unauthorized);
    assert.match(r.message, /permission this resource token was issued for was deleted/);
  });

  test("the token of a deleted user's permission is 401", async () => {
    const p = await grant("leaver", { id: "leaver-read", permissionMode: "Read", resource: orders.url });
    const c = ordersWith(p._token);
    assert.equal((await c.item("o1", 1).read()).statusCode, StatusCodes.Ok);
    await db.user("leaver").delete();
    assert.equal(await status(db.user("leaver").permission("leaver-read").read()), StatusCodes.NotFound);
    assert.equal((await refusal(c.item("o1", 1).read())).code, StatusCodes.Unauthorized);
  });

  test("a token with a changed signature character is 401", async () => {
    const p = await grant("forger", { id: "forged", permissionMode: "Read", resource: orders.url });
    const t = p._token;
    const i = t.length - 3;
    const tampered = t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
    const r = await refusal(ordersWith(tampered).item("o1", 1).read());
    assert.equal(r.code, StatusCodes.Unauthorized);
    assert.match(r.message, /signature does not verify/);
    assert.equal((await ordersWith(t).item("o1", 1).read()).statusCode, StatusCodes.Ok);
  });

  test("bad permissions: mode Write, resource outside the database, missing container, malformed link are 400/404 naming the problem", async () => {
    const { user } = await db.users.create({ id: "bad-inputs" });
    const cases = [
      [{ permissionMode: "Write", resource: orders.url }, 400, /permissionMode "Write"/],
      [{ permissionMode: "Read", resource: "dbs/elsewhere/colls/orders" }, 400, /outside database "accessdb"/],
      [{ permissionMode: "Read", resource: "dbs/accessdb/colls/missing" }, 404, /container "missing" does not exist/],
      [{ permissionMode: "Read", resource: "dbs/accessdb/orders" }, 400, /must name a container/],
      [{ permissionMode: "All", resource: `${orders.url}/docs/nothing` }, 404, /no item "nothing"/],
    ];
    for (const [body, code, says] of cases) {
      const r = await refusal(user.permissions.create({ id: "bad", ...body }));
      assert.equal(r.code, code, JSON.stringify(body));
      assert.match(r.message, says);
    }
    assert.equal(await status(user.permission("bad").read()), StatusCodes.NotFound);
    // Malformed bodies the SDK would not send.
    const link = "dbs/accessdb/users/bad-inputs/permissions";
    for (const [body, says] of [["[1]", /JSON object/], ['{"id":"bad","resource":"dbs/accessdb/colls/orders"}', /no string "permissionMode"/]]) {
      const r = await signedRequest(server.port, "POST", `/${link}`, { link: "dbs/accessdb/users/bad-inputs", type: "permissions", body });
      assert.equal(r.status, 400, body);
      assert.match(r.json.message, says);
    }
  });

  test("resourceTokenExpirySeconds sets the token's life; outside 1..18000 it is 400 naming the header", async () => {
    const { user } = await db.users.create({ id: "expiring" });
    await user.permissions.create({ id: "short", permissionMode: "Read", resource: orders.url });
    const { resource: p } = await user.permission("short").read({ resourceTokenExpirySeconds: 60 });
    const expiry = Number(p._token.match(/sig=\d+\.(\d+)\./)[1]);
    const now = Date.now() / 1000;
    assert.ok(expiry > now + 50 && expiry < now + 70, `expiry ${expiry} vs now ${now}`);
    const over = await refusal(user.permission("short").read({ resourceTokenExpirySeconds: 18001 }));
    assert.equal(over.code, StatusCodes.BadRequest);
    assert.match(over.message, /x-ms-documentdb-expiry-seconds is "18001"; a resource token lives 1 to 18000 seconds/);
    // 0 and non-numbers the SDK does not send (it drops a falsy option): raw.
    const link = "dbs/accessdb/users/expiring/permissions/short";
    for (const v of ["0", "ten", "9".repeat(40)]) {
      const r = await signedRequest(server.port, "GET", `/${link}`, { link, type: "permissions", headers: { "x-ms-documentdb-expiry-seconds": v } });
      assert.equal(r.status, 400, v);
      assert.match(r.json.message, /x-ms-documentdb-expiry-seconds/);
    }
    // A create refused for its expiry header writes nothing: the same create then succeeds.
    const feed = "dbs/accessdb/users/expiring";
    const body = JSON.stringify({ id: "later", permissionMode: "Read", resource: orders.url });
    const refused = await signedRequest(server.port, "POST", `/${feed}/permissions`, { link: feed, type: "permissions", body, headers: { "x-ms-documentdb-expiry-seconds": "0" } });
    assert.equal(refused.status, 400);
    assert.equal(await status(user.permission("later").read()), StatusCodes.NotFound);
    assert.equal((await user.permissions.create({ id: "later", permissionMode: "Read", resource: orders.url })).statusCode, StatusCodes.Created);
  });

  test("a Read token cannot pass a write off as a query, and a partition's token cannot touch the container or other partitions", async () => {
    const r = await grant("sneaky", { id: "read-all", permissionMode: "Read", resource: orders.url });
    // An isquery header does not make .../operations/partitionkeydelete a read.
    const res = await fetch(`${endpoint}dbs/accessdb/colls/orders/operations/partitionkeydelete`, {
      method: "POST",
      headers: { authorization: encodeURIComponent(r._token), "x-ms-date": new Date().toUTCString(), "x-ms-version": "2020-07-15",
        "x-ms-documentdb-isquery": "true", "x-ms-documentdb-partitionkey": "[2]" },
    });
    assert.equal(res.status, StatusCodes.Forbidden);
    assert.equal(await status(orders.item("o2", 2).read()), 200);
    // A partition-scoped All token reads the container but cannot replace or delete it, nor bulk.
    const p = await grant("scoped", { id: "p1-all", permissionMode: "All", resource: orders.url, resourcePartitionKey: [1] });
    const c = ordersWith(p._token);
    assert.equal((await c.read()).resource.id, "orders");
    assert.equal((await tokenRequest("DELETE", "/dbs/accessdb/colls/orders", p._token)).status, StatusCodes.Forbidden);
    assert.equal((await refusal(c.replace({ id: "orders", partitionKey: { paths: ["/pk"] }, defaultTtl: 1 }))).code, StatusCodes.Forbidden);
    const bulk = await c.items.executeBulkOperations([{ operationType: "Delete", id: "o2", partitionKey: 2 }]).catch((e) => e);
    // The SDK reports the refused request on each of its operations.
    assert.match(String(bulk[0]?.error?.message), /a bulk request may touch any partition/, JSON.stringify(bulk).slice(0, 300));
    assert.equal(await status(orders.item("o2", 2).read()), 200);
  });

  test("an item's grant is bound to its partition, and a container's deletion ends the grants on it", async () => {
    const tmp = (await db.containers.create({ id: "tmp", partitionKey: { paths: ["/pk"] } })).container;
    await tmp.items.create({ id: "twin", pk: 1 });
    await tmp.items.create({ id: "twin", pk: 2 });
    const { user } = await db.users.create({ id: "twin-owner" });
    const ambiguous = await refusal(user.permissions.create({ id: "t", permissionMode: "All", resource: `${tmp.url}/docs/twin` }));
    assert.equal(ambiguous.code, StatusCodes.BadRequest);
    assert.match(ambiguous.message, /several partitions/);
    const { resource: p } = await user.permissions.create({ id: "t", permissionMode: "All", resource: `${tmp.url}/docs/twin`, resourcePartitionKey: [1] });
    const c = tokenClient({ [tmp.url]: p._token }).database("accessdb").container("tmp");
    assert.equal((await c.item("twin", 1).read()).resource.pk, 1);
    assert.equal((await refusal(c.item("twin", 2).read())).code, StatusCodes.Forbidden);
    await tmp.delete();
    const again = (await db.containers.create({ id: "tmp", partitionKey: { paths: ["/pk"] } })).container;
    await again.items.create({ id: "twin", pk: 1 });
    assert.equal((await refusal(c.item("twin", 1).read())).code, StatusCodes.Unauthorized);
  });

  test("deleting a database deletes its users: after re-creating it, the user is 404 and the old token 401", async () => {
    const client = cosmosClient(server.port);
    const { database: drop } = await client.databases.create({ id: "dropdb" });
    const { container: c } = await drop.containers.create({ id: "c", partitionKey: { paths: ["/pk"] } });
    const { user } = await drop.users.create({ id: "ghost" });
    const { resource: p } = await user.permissions.create({ id: "ghost-read", permissionMode: "Read", resource: c.url });
    await drop.delete();
    const { database: again } = await client.databases.create({ id: "dropdb" });
    await again.containers.create({ id: "c", partitionKey: { paths: ["/pk"] } });
    assert.equal(await status(again.user("ghost").read()), StatusCodes.NotFound);
    assert.deepEqual((await again.users.readAll().fetchAll()).resources, []);
    const stale = tokenClient({ [c.url]: p._token }).database("dropdb").container("c");
    assert.equal((await refusal(stale.items.readAll().fetchAll())).code, StatusCodes.Unauthorized);
  });
});
