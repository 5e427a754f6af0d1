// End-to-end: `nimbus start` serves the Cosmos DB NoSQL API beside the functions, and native
// functions' cosmosDB output bindings write into the same store: the official @azure/cosmos
// client creates the container and reads back what an HTTP function and a queue-triggered
// function wrote (the queue function's document commits with the message's deletion).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { CosmosClient } from "@azure/cosmos";
import { appPath, request, runNimbus, startNimbus, stopNimbus, waitFor } from "../integration/lib/nimbus.mjs";
import { queueClient } from "../integration/lib/queues.mjs";

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

let host, container;
before(async () => {
  host = await startNimbus(appPath("tests/apps/queue-native"));
  assert.ok(host.docsPort > 0, "the host logs its document service port");
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${host.docsPort}/`, key: EMULATOR_KEY });
  const { database } = await client.databases.createIfNotExists({ id: "shop" });
  ({ container } = await database.containers.createIfNotExists({ id: "orders", partitionKey: { paths: ["/customer"] } }));
});
after(() => stopNimbus(host));

test("an HTTP function's cosmosDB output is durable before its response and readable with the SDK", async () => {
  const r = await request(host.port, "POST", "/api/orders", {
    body: JSON.stringify([{ id: "o-1", customer: "acme", total: 5 }, { id: "o-2", customer: "bolt", total: 7 }]),
  });
  assert.equal(r.status, 201, r.body);
  const { resource } = await container.item("o-2", "bolt").read();
  assert.equal(resource.total, 7);
  const { resources } = await container.items
    .query({ query: "SELECT VALUE SUM(c.total) FROM c WHERE c.customer IN (@a, @b)", parameters: [{ name: "@a", value: "acme" }, { name: "@b", value: "bolt" }] })
    .fetchAll();
  assert.deepEqual(resources, [12]);
});

test("a value that is not a JSON object, or a document the store refuses, fails the call; nothing is written", async () => {
  const r = await request(host.port, "POST", "/api/orders", { body: "[1, 2]" });
  assert.equal(r.status, 500);
  assert.match(r.body, /output binding \\"doc\\"/);
  // Two documents, the second with an id the store refuses: all or nothing.
  const bad = await request(host.port, "POST", "/api/orders", {
    body: JSON.stringify([{ id: "o-3", customer: "acme" }, { id: "a/b", customer: "acme" }]),
  });
  assert.equal(bad.status, 500, "the store refuses an id with '/', so the call fails");
  const { resources } = await container.items.query("SELECT VALUE COUNT(1) FROM c").fetchAll();
  assert.deepEqual(resources, [2]);
});

test("a queue function's document lands with the message's completion", async () => {
  const q = queueClient(host.queuePort).getQueueClient("archive-jobs");
  await q.createIfNotExists();
  await q.sendMessage(Buffer.from("hello archive").toString("base64"));
  let doc;
  await waitFor(async () => {
    const { resources } = await container.items
      .query({ query: "SELECT * FROM c WHERE c.customer = 'archive'" })
      .fetchAll();
    doc = resources[0];
    return resources.length === 1;
  }, { timeoutMs: 10000, what: "the archived document" });
  assert.equal(doc.text, "hello archive");
  await waitFor(async () => (await q.getProperties()).approximateMessagesCount === 0,
    { timeoutMs: 5000, what: "the message deleted" });
});

test("document inputs: a native function reads an order by route values, null when absent, and a parameterized query", async () => {
  await container.items.upsert({ id: "in-1", customer: "inputs", total: 3 });
  await container.items.upsert({ id: "in-2", customer: "inputs", total: 4 });
  const r = await request(host.port, "GET", "/api/orders/inputs/in-1");
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.total, 3);
  assert.ok(r.json._etag, "the document comes with its system properties");
  assert.equal((await request(host.port, "GET", "/api/orders/inputs/none")).status, 404);
  assert.equal((await request(host.port, "GET", "/api/orders/other/in-1")).status, 404, "another partition");
  const q = await request(host.port, "GET", "/api/customers/inputs/orders");
  assert.deepEqual(q.json, ["in-1", "in-2"]);
  // A value that would break out of a spliced query is only a parameter's value.
  const inj = await request(host.port, "GET", `/api/customers/${encodeURIComponent("x' OR 1=1 OR c.id = '")}/orders`);
  assert.deepEqual(inj.json, []);
});

test("a native change-feed function sees the orders written through every path, in order", async () => {
  const q = queueClient(host.queuePort).getQueueClient("orders-fed");
  const seen = new Set();
  await waitFor(async () => {
    if (!(await q.exists())) return false;
    const { receivedMessageItems } = await q.receiveMessages({ numberOfMessages: 32 });
    for (const m of receivedMessageItems) {
      for (const id of Buffer.from(m.messageText, "base64").toString().split(",")) seen.add(id);
      await q.deleteMessage(m.messageId, m.popReceipt);
    }
    return ["o-1", "o-2", "in-1", "in-2"].every((id) => seen.has(id));
  }, { timeoutMs: 15000, what: "the change feed function's ids" });
});

test("nimbus docs: list, put, get, query and delete from the command line, with clear refusals", () => {
  const docs = (...args) => runNimbus(["docs", "--endpoint", `http://127.0.0.1:${host.docsPort}`, ...args]);
  // "ops" holds the change-feed function's lease container.
  assert.deepEqual(docs("databases").stdout.trim().split("\n").sort(), ["ops", "shop"]);
  assert.equal(docs("containers", "shop").stdout.trim(), "orders");
  const put = docs("put", "shop", "orders", '{"id":"cli-1","customer":"cli","total":9}');
  assert.equal(put.code, 0, put.stderr);
  assert.equal(JSON.parse(docs("get", "shop", "orders", "cli-1", "--pk", "cli").stdout).total, 9);
  const q = docs("query", "shop", "orders", "SELECT VALUE c.id FROM c WHERE c.total >= @min ORDER BY c.total DESC", "--param", "@min=7");
  assert.equal(q.code, 0, q.stderr);
  assert.deepEqual(q.stdout.trim().split("\n"), ['"cli-1"', '"o-2"']);
  const bad = docs("query", "shop", "orders", "SELECT * FROM c WHERE");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /400 BadRequest: Syntax error at position 21/);
  assert.equal(docs("delete", "shop", "orders", "cli-1", "--pk", "cli").code, 0);
  const gone = docs("get", "shop", "orders", "cli-1", "--pk", "cli");
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /404 NotFound/);
  const wrong = runNimbus(["docs", "--endpoint", `http://127.0.0.1:${host.docsPort}`, "--key", Buffer.alloc(64, 7).toString("base64"), "databases"]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /401 Unauthorized.*payload to sign/);
  assert.equal(docs("get", "shop", "orders").code, 2, "usage errors exit 2");
});
