// End-to-end: the official @azure/cosmos client, unmodified, against nimbus-docs-server over
// https on a free port, as users of the emulator connect (https://localhost:8081). The server
// generates its self-signed certificate into its data directory; the client trusts it through
// its agent (`new https.Agent({ ca })`), through NODE_EXTRA_CA_CERTS in a process of its own
// (with the connection string, as users paste it), or not at all (then it must fail at once
// with a TLS error). Plain http keeps working on the same port.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CosmosClient, ChangeFeedStartFrom, StatusCodes } from "@azure/cosmos";
import { startDocsServer } from "./lib/docs_server.mjs";

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

function serverBinary() {
  return process.env.NIMBUS_DOCS_SERVER_BIN || join(root, "build", "release", "nimbus-docs-server");
}


// Runs `code` (an ES module) in a node process of its own with `env` added; resolves with its
// exit code and output, or rejects when it has not finished within `timeoutMs`.
function runNode(code, env, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      cwd: here, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`child did not finish in ${timeoutMs} ms: ${out}`)); }, timeoutMs);
    child.on("exit", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe("Cosmos DB NoSQL endpoint over https with the official SDK", { timeout: 180000 }, () => {
  let server, agent, c;
  before(async () => {
    server = await startDocsServer();
    agent = new https.Agent({ ca: readFileSync(server.cert), keepAlive: true });
    c = new CosmosClient({ endpoint: `https://127.0.0.1:${server.port}/`, key: EMULATOR_KEY, agent });
  });
  after(async () => { agent?.destroy(); await server.stop(); server.cleanup(); });

  test("the generated certificate sits in the data directory with a private key", () => {
    assert.equal(server.cert, join(server.dataDir, "tls", "cert.pem"));
    assert.equal(statSync(join(server.dataDir, "tls", "key.pem")).mode & 0o777, 0o600);
  });

  test("account document advertises https; database, container, items, query, change feed", async () => {
    const { resource: account } = await c.getDatabaseAccount();
    assert.equal(account.writableLocations[0].databaseAccountEndpoint, `https://127.0.0.1:${server.port}/`);
    assert.equal(account.readableLocations[0].databaseAccountEndpoint, `https://127.0.0.1:${server.port}/`);

    const { database } = await c.databases.createIfNotExists({ id: "tls" });
    const { container } = await database.containers.createIfNotExists({ id: "items", partitionKey: { paths: ["/pk"] } });
    for (let i = 0; i < 5; i++) await container.items.create({ id: `i${i}`, pk: i % 2 ? "odd" : "even", n: i });
    const { resource: read } = await container.item("i3", "odd").read();
    assert.equal(read.n, 3);
    const { resources } = await container.items
      .query({ query: "SELECT VALUE c.id FROM c WHERE c.n >= @min ORDER BY c.n", parameters: [{ name: "@min", value: 2 }] })
      .fetchAll();
    assert.deepEqual(resources, ["i2", "i3", "i4"]);

    const it = container.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
    const first = await it.readNext();
    assert.equal(first.statusCode, 200);
    assert.deepEqual(first.result.map((d) => d.id).sort(), ["i0", "i1", "i2", "i3", "i4"]);
    assert.equal((await it.readNext()).statusCode, StatusCodes.NotModified);
    await container.items.upsert({ id: "i1", pk: "odd", n: 10 });
    const next = await it.readNext();
    assert.deepEqual(next.result.map((d) => [d.id, d.n]), [["i1", 10]]);

    // The same data over plain http on the same port.
    const plain = new CosmosClient({ endpoint: `http://127.0.0.1:${server.port}/`, key: EMULATOR_KEY });
    const { resource: account2 } = await plain.getDatabaseAccount();
    assert.equal(account2.writableLocations[0].databaseAccountEndpoint, `http://127.0.0.1:${server.port}/`);
    assert.equal((await plain.database("tls").container("items").item("i1", "odd").read()).resource.n, 10);
  });

  test("many requests share kept-alive TLS connections", async () => {
    const container = c.database("tls").container("items");
    for (let i = 0; i < 50; i++) assert.equal((await container.item("i2", "even").read()).resource.n, 2);
    // Sequential reads reuse one connection: far fewer sockets than requests.
    const sockets = Object.values(agent.freeSockets).flat().length + Object.values(agent.sockets).flat().length;
    assert.ok(sockets <= 2, `open sockets after 50 sequential reads: ${sockets}`);
  });

  test("the connection string with NODE_EXTRA_CA_CERTS, in a process of its own", async () => {
    const code = `
      import { CosmosClient } from "@azure/cosmos";
      const c = new CosmosClient(process.env.CS);
      const { resource } = await c.database("tls").container("items").item("i4", "even").read();
      const { resource: account } = await c.getDatabaseAccount();
      console.log(JSON.stringify({ n: resource.n, endpoint: account.writableLocations[0].databaseAccountEndpoint }));
    `;
    const cs = `AccountEndpoint=https://localhost:${server.port}/;AccountKey=${EMULATOR_KEY};`;
    const r = await runNode(code, { CS: cs, NODE_EXTRA_CA_CERTS: server.cert });
    assert.equal(r.code, 0, r.out);
    // Host name "localhost": the certificate's SAN covers it as well as 127.0.0.1.
    assert.deepEqual(JSON.parse(r.out.trim().split("\n").pop()), { n: 4, endpoint: `https://localhost:${server.port}/` });
  });

  test("a client that does not trust the certificate fails at once with a TLS error", async () => {
    const started = Date.now();
    const untrusting = new CosmosClient({
      endpoint: `https://127.0.0.1:${server.port}/`, key: EMULATOR_KEY,
      connectionPolicy: { retryOptions: { maxRetryAttemptCount: 0 } },
    });
    await assert.rejects(untrusting.database("tls").read(), (e) => {
      const text = `${e.code} ${e.message} ${e.cause?.code ?? ""}`;
      assert.match(text, /SELF_SIGNED|self[- ]signed|certificate/i, text);
      return true;
    });
    assert.ok(Date.now() - started < 30000, `took ${Date.now() - started} ms`);
    // The server is unharmed: the trusting client goes on.
    assert.equal((await c.database("tls").read()).resource.id, "tls");
  });

  test("--cert/--key-file serve a certificate given by path", async () => {
    const other = await startDocsServer({ extraArgs: ["--cert", server.cert, "--key-file", join(server.dataDir, "tls", "key.pem")] });
    try {
      assert.equal(other.cert, server.cert);
      const a = new https.Agent({ ca: readFileSync(server.cert) });
      const oc = new CosmosClient({ endpoint: `https://127.0.0.1:${other.port}/`, key: EMULATOR_KEY, agent: a });
      const { database } = await oc.databases.createIfNotExists({ id: "given" });
      assert.equal(database.id, "given");
      a.destroy();
    } finally {
      await other.stop();
      other.cleanup();
    }
    // A key that is not a file is refused at start, naming the file.
    const badDir = mkdtempSync(join(tmpdir(), "nimbus-docs-https-bad-"));
    const bad = spawn(serverBinary(), ["--port", "0", "--data", badDir, "--cert", server.cert, "--key-file", "/nonexistent/key.pem"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    bad.stderr.on("data", (d) => { err += d; });
    const code = await new Promise((r) => bad.on("exit", r));
    rmSync(badDir, { recursive: true, force: true });
    assert.notEqual(code, 0);
    assert.match(err, /\/nonexistent\/key\.pem/);
  });
});

// `nimbus start` serves the same on its document port: the certificate generated into its data
// directory, then one given in host.json.
describe("nimbus start: https on the document port", { timeout: 120000, skip: !process.env.NIMBUS_BIN && "NIMBUS_BIN not set" }, () => {
  let lib, host;
  before(async () => { lib = await import("../integration/lib/nimbus.mjs"); });
  after(async () => { if (host) await lib.stopNimbus(host); });

  test("generated certificate, then host.json certificate/certificateKey", async () => {
    host = await lib.startNimbus(lib.appPath("examples/hello"));
    const cert = join(host.data, "tls", "cert.pem");
    assert.match(host.logs, /Document service \(Cosmos DB NoSQL API\) listening on http:\/\/127\.0\.0\.1:\d+\/ and https:\/\/127\.0\.0\.1:\d+\//);
    assert.ok(host.logs.includes(`NODE_EXTRA_CA_CERTS=${cert}`), "the start log says how to trust the certificate");
    const a = new https.Agent({ ca: readFileSync(cert) });
    const hc = new CosmosClient({ endpoint: `https://localhost:${host.docsPort}/`, key: EMULATOR_KEY, agent: a });
    const { resource: account } = await hc.getDatabaseAccount();
    assert.equal(account.writableLocations[0].databaseAccountEndpoint, `https://localhost:${host.docsPort}/`);
    const { database } = await hc.databases.createIfNotExists({ id: "hosted" });
    const { container } = await database.containers.createIfNotExists({ id: "c", partitionKey: { paths: ["/pk"] } });
    await container.items.create({ id: "1", pk: "a" });
    assert.equal((await container.item("1", "a").read()).resource.id, "1");
    a.destroy();
    await lib.stopNimbus(host);

    // The same pair named in host.json (absolute paths here; relative ones are to the app folder).
    const app = lib.copyApp("examples/hello", (h) => {
      h.nimbus.documentService = { certificate: cert, certificateKey: join(host.data, "tls", "key.pem") };
    });
    const first = host;
    host = await lib.startNimbus(app);
    try {
      assert.match(host.logs, /TLS certificate of the document and queue ports \(host\.json nimbus\.documentService\.certificate\)/);
      const b = new https.Agent({ ca: readFileSync(cert) });
      const again = new CosmosClient({ endpoint: `https://127.0.0.1:${host.docsPort}/`, key: EMULATOR_KEY, agent: b });
      assert.equal((await again.databases.createIfNotExists({ id: "named" })).database.id, "named");
      b.destroy();
    } finally {
      rmSync(app, { recursive: true, force: true });
      rmSync(first.data, { recursive: true, force: true });
    }
  });
});
