// End-to-end: shared access signatures and bearer tokens on nimbus-queue-server with the
// official @azure/storage-queue package, unmodified: account SAS and queue service SAS made by
// the SDK (generateAccountSasUrl, generateSasUrl, generate*SASQueryParameters), stored access
// policies, SAS connection strings, and every refusal with the service's status and code
// (expired, wrong permission, resource type, service, IP, protocol, tampered). Bearer tokens:
// a hand-made unsigned JWT from a custom TokenCredential over https (the server's generated
// certificate trusted by an https.Agent), and the refusals of wrong audiences, expired tokens
// and plain HTTP.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import {
  QueueServiceClient, QueueClient, AnonymousCredential, StorageSharedKeyCredential, newPipeline,
  generateAccountSASQueryParameters, generateQueueSASQueryParameters, AccountSASPermissions,
  QueueSASPermissions, SASProtocol,
} from "@azure/storage-queue";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { startQueueServer, connectionString, DEV_ACCOUNT, DEV_KEY } from "./lib/queue_server.mjs";

const cred = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);
const HOUR = 3600 * 1000;
const noRetry = { retryOptions: { maxTries: 1 } };

async function rejectsWith(promise, status, code, detail) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, `status of ${e.message}`);
    assert.equal(e.code, code, e.message);
    if (detail) assert.match(e.details?.authenticationErrorDetail ?? e.message, detail);
    return true;
  });
}

const here = path.dirname(new URL(import.meta.url).pathname);

// Runs SDK calls over https in a node process that trusts the server's generated certificate
// (NODE_EXTRA_CA_CERTS is read at start, so not in this process). `steps` is the body of an
// async function with `attempt(name, fn)`; resolves { name: { ok, value } | { ok: false,
// status, code, detail } }.
function overTls(cert, steps) {
  const script = `
    import * as sdk from "@azure/storage-queue";
    const out = {};
    const attempt = async (name, fn) => {
      try { out[name] = { ok: true, value: await fn() }; }
      catch (e) { out[name] = { ok: false, status: e.statusCode, code: e.code,
                                detail: e.details?.authenticationErrorDetail, message: e.message }; }
    };
    ${steps}
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script],
    { cwd: here, env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, encoding: "utf8", timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

// A JWT as Azure AD shapes it, unsigned (the server does not verify signatures; it says so).
function jwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}
function tokenCredential(token) {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + HOUR }) };
}
const now = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({
  iss: "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
  aud: "https://storage.azure.com", iat: now() - 60, nbf: now() - 60, exp: now() + 3600,
  tid: "72f988bf-86f1-41af-91ab-2d7cd011db47",
});

describe("queue SAS and bearer tokens with the official SDK", { timeout: 120000 }, () => {
  let server, svc, base, agent;
  before(async () => {
    server = await startQueueServer({ tls: true });
    svc = QueueServiceClient.fromConnectionString(connectionString(server.port), noRetry);
    base = `http://127.0.0.1:${server.port}/${DEV_ACCOUNT}`;
    agent = new https.Agent({ ca: readFileSync(server.cert), keepAlive: true });
    await svc.getQueueClient("sas-q").create();
  });
  after(async () => { agent?.destroy(); await server.stop(); server.cleanup(); });

  const anon = (url) => new QueueServiceClient(url, newPipeline(new AnonymousCredential(), noRetry));
  const anonQueue = (url) => new QueueClient(url, newPipeline(new AnonymousCredential(), noRetry));

  test("account SAS from generateAccountSasUrl: queue and message operations", async () => {
    const url = svc.generateAccountSasUrl(new Date(Date.now() + HOUR),
      AccountSASPermissions.parse("rwdlacup"), "sco");
    const s = anon(url);
    await s.getProperties();
    const q = s.getQueueClient("acct-sas");
    await q.create({ metadata: { by: "sas" } });
    assert.equal((await q.getProperties()).metadata.by, "sas");
    const sent = await q.sendMessage("via account sas");
    const { receivedMessageItems: [m] } = await q.receiveMessages();
    assert.equal(m.messageText, "via account sas");
    await q.updateMessage(m.messageId, m.popReceipt, "updated", 0);
    const peeked = await q.peekMessages();
    assert.equal(peeked.peekedMessageItems[0].messageText, "updated");
    const again = await q.receiveMessages();
    await q.deleteMessage(again.receivedMessageItems[0].messageId, again.receivedMessageItems[0].popReceipt);
    await q.clearMessages();
    const names = [];
    for await (const item of s.listQueues({ prefix: "acct-" })) names.push(item.name);
    assert.deepEqual(names, ["acct-sas"]);
    assert.ok(sent.messageId);
    // Queue ACLs are never a SAS's: only the key holder manages stored policies.
    await rejectsWith(q.getAccessPolicy(), 403, "AuthorizationPermissionMismatch");
    await q.delete();
  });

  test("account SAS of older and current versions, and its refusals", async () => {
    const sas = (o) => generateAccountSASQueryParameters({ expiresOn: new Date(Date.now() + HOUR),
      services: "q", resourceTypes: "sco", permissions: AccountSASPermissions.parse("rl"), ...o }, cred).toString();
    for (const version of ["2015-04-05", "2019-02-02", "2020-12-06", undefined]) {
      const s = anon(`${base}?${sas({ version })}`);
      await s.getProperties();
    }
    await rejectsWith(anon(`${base}?${sas({ permissions: AccountSASPermissions.parse("l") })}`).getProperties(),
      403, "AuthorizationPermissionMismatch");
    await rejectsWith(anon(`${base}?${sas({ resourceTypes: "co" })}`).getProperties(),
      403, "AuthorizationResourceTypeMismatch");
    await rejectsWith(anon(`${base}?${sas({ services: "bf" })}`).getProperties(),
      403, "AuthorizationServiceMismatch");
    await rejectsWith(anon(`${base}?${sas({})}1`).getProperties(), 403, "AuthenticationFailed",
      /Signature did not match/);
    // Create Queue needs 'c' or 'w'; the message operations need 'o'.
    const noCreate = anon(`${base}?${sas({ permissions: AccountSASPermissions.parse("rdlaup") })}`);
    await rejectsWith(noCreate.getQueueClient("never").create(), 403, "AuthorizationPermissionMismatch");
    const containerOnly = anon(`${base}?${sas({ resourceTypes: "c", permissions: AccountSASPermissions.parse("a") })}`);
    await rejectsWith(containerOnly.getQueueClient("sas-q").sendMessage("x"), 403, "AuthorizationResourceTypeMismatch");
  });

  test("service SAS from generateSasUrl: raup on one queue, nothing else", async () => {
    const q = svc.getQueueClient("sas-q");
    const url = await q.generateSasUrl({ permissions: QueueSASPermissions.parse("raup"),
      expiresOn: new Date(Date.now() + HOUR), startsOn: new Date(Date.now() - 5 * 60 * 1000) });
    const sq = anonQueue(url);
    await sq.getProperties();
    await sq.sendMessage("via service sas");
    const { peekedMessageItems } = await sq.peekMessages();
    assert.equal(peekedMessageItems[0].messageText, "via service sas");
    const { receivedMessageItems: [m] } = await sq.receiveMessages();
    const upd = await sq.updateMessage(m.messageId, m.popReceipt, "u", 0);
    await sq.deleteMessage(m.messageId, upd.popReceipt);
    await rejectsWith(sq.clearMessages(), 403, "AuthorizationPermissionMismatch");
    await rejectsWith(sq.setMetadata({ a: "b" }), 403, "AuthorizationPermissionMismatch");
    await rejectsWith(sq.delete(), 403, "AuthorizationPermissionMismatch");
    // The same SAS on another queue: the queue name is signed.
    const other = url.replace("/sas-q?", "/other-q?");
    await rejectsWith(anonQueue(other).sendMessage("x"), 403, "AuthenticationFailed", /Signature did not match/);
    // Read-only: add refused with the letter it needs.
    const ro = await q.generateSasUrl({ permissions: QueueSASPermissions.parse("r"), expiresOn: new Date(Date.now() + HOUR) });
    await rejectsWith(anonQueue(ro).sendMessage("x"), 403, "AuthorizationPermissionMismatch");
    await assert.rejects(anonQueue(ro).sendMessage("x"), /needs 'a'/);
  });

  test("stored access policy: the policy gives the fields, revoking it ends the SAS", async () => {
    const q = svc.getQueueClient("policy-q");
    await q.create();
    await q.setAccessPolicy([{ id: "senders", accessPolicy: { permissions: "ra",
      startsOn: new Date(Date.now() - 60000), expiresOn: new Date(Date.now() + HOUR) } }]);
    const sas = generateQueueSASQueryParameters({ queueName: "policy-q", identifier: "senders" }, cred).toString();
    const sq = anonQueue(`${base}/policy-q?${sas}`);
    await sq.sendMessage("by policy");
    assert.equal((await sq.peekMessages()).peekedMessageItems[0].messageText, "by policy");
    await rejectsWith(sq.receiveMessages(), 403, "AuthorizationPermissionMismatch");
    // A field both in the SAS and in the policy is refused.
    const both = generateQueueSASQueryParameters({ queueName: "policy-q", identifier: "senders",
      permissions: QueueSASPermissions.parse("r") }, cred).toString();
    await rejectsWith(anonQueue(`${base}/policy-q?${both}`).peekMessages(), 403, "AuthenticationFailed", /not both/);
    // The policy without permissions: the SAS supplies them.
    await q.setAccessPolicy([{ id: "senders", accessPolicy: { expiresOn: new Date(Date.now() + HOUR) } }]);
    await anonQueue(`${base}/policy-q?${both}`).peekMessages();
    // Revoked: the id names no policy now.
    await q.setAccessPolicy([]);
    await rejectsWith(sq.sendMessage("x"), 403, "AuthenticationFailed", /names no stored access policy/);
    // An expired policy.
    await q.setAccessPolicy([{ id: "senders", accessPolicy: { permissions: "ra",
      expiresOn: new Date(Date.now() - 60000) } }]);
    await rejectsWith(sq.sendMessage("x"), 403, "AuthenticationFailed", /expired/);
  });

  test("expired, not yet valid, wrong IP, protocol", async () => {
    const q = svc.getQueueClient("sas-q");
    const mk = (o) => q.generateSasUrl({ permissions: QueueSASPermissions.parse("raup"),
      expiresOn: new Date(Date.now() + HOUR), ...o });
    await rejectsWith(anonQueue(await mk({ startsOn: new Date(Date.now() - 2 * HOUR),
      expiresOn: new Date(Date.now() - HOUR) })).peekMessages(), 403, "AuthenticationFailed",
      /Signature not valid in the specified time frame.*expired/);
    await rejectsWith(anonQueue(await mk({ startsOn: new Date(Date.now() + HOUR),
      expiresOn: new Date(Date.now() + 2 * HOUR) })).peekMessages(), 403, "AuthenticationFailed", /not valid yet/);
    await rejectsWith(anonQueue(await mk({ ipRange: { start: "10.1.0.0", end: "10.1.255.255" } })).peekMessages(),
      403, "AuthorizationSourceIPMismatch");
    await anonQueue(await mk({ ipRange: { start: "127.0.0.1" } })).peekMessages();
    // https-only over http is refused; over https it runs; https,http runs over http.
    const httpsOnly = await mk({ protocol: SASProtocol.Https });
    await rejectsWith(anonQueue(httpsOnly).peekMessages(), 403, "AuthorizationProtocolMismatch");
    const tlsUrl = JSON.stringify(httpsOnly.replace("http://", "https://"));
    const r = overTls(server.cert, `await attempt("peek", async () => {
      const q = new sdk.QueueClient(${tlsUrl}, sdk.newPipeline(new sdk.AnonymousCredential(), { retryOptions: { maxTries: 1 } }));
      return (await q.peekMessages()).peekedMessageItems.length;
    });`);
    assert.equal(r.peek.ok, true, JSON.stringify(r.peek));
    await anonQueue(await mk({ protocol: SASProtocol.HttpsAndHttp })).peekMessages();
    // The scheme and the address are the connection's: headers a client writes do not count.
    const spoof = async (url, headers) => new Promise((resolve, reject) => {
      const u = new URL(url);
      http.get({ host: u.hostname, port: u.port, path: `${u.pathname}/messages${u.search}&peekonly=true`, headers },
        (r) => { r.resume(); r.on("end", () => resolve(r.headers["x-ms-error-code"])); }).on("error", reject);
    });
    assert.equal(await spoof(httpsOnly, { "x-forwarded-proto": "https" }), "AuthorizationProtocolMismatch");
    assert.equal(await spoof(await mk({ ipRange: { start: "10.1.0.1" } }),
      { "x-forwarded-for": "10.1.0.1", "x-real-ip": "10.1.0.1" }), "AuthorizationSourceIPMismatch");
  });

  test("SAS connection string", async () => {
    const sas = generateAccountSASQueryParameters({ expiresOn: new Date(Date.now() + HOUR),
      services: "q", resourceTypes: "sco", permissions: AccountSASPermissions.parse("rwdlacup") }, cred).toString();
    const s = QueueServiceClient.fromConnectionString(
      `QueueEndpoint=${base};SharedAccessSignature=${sas}`, noRetry);
    const q = s.getQueueClient("cs-sas");
    await q.createIfNotExists();
    await q.sendMessage("via connection string");
    assert.equal((await q.receiveMessages()).receivedMessageItems[0].messageText, "via connection string");
    const qc = new QueueClient(`QueueEndpoint=${base};SharedAccessSignature=${sas}`, "cs-sas", noRetry);
    assert.equal((await qc.peekMessages()).peekedMessageItems.length, 0);
    await q.delete();
  });

  test("a SAS request with an Authorization header is a SharedKey request", async () => {
    // The header wins; a SAS beside a wrong key does not rescue it.
    const sas = generateAccountSASQueryParameters({ expiresOn: new Date(Date.now() + HOUR),
      services: "q", resourceTypes: "s", permissions: AccountSASPermissions.parse("r") }, cred).toString();
    const res = await new Promise((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: server.port, path: `/${DEV_ACCOUNT}?restype=service&comp=properties&${sas}`,
        headers: { authorization: "SharedKey devstoreaccount1:AAAA", "x-ms-date": new Date().toUTCString() } },
      (r) => { r.resume(); r.on("end", () => resolve(r)); }).on("error", reject);
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers["x-ms-error-code"], "AuthenticationFailed");
  });

  test("bearer token over https with a custom TokenCredential", () => {
    const tls = JSON.stringify(`https://127.0.0.1:${server.port}/${DEV_ACCOUNT}`);
    const token = (claims) => JSON.stringify(jwt(claims));
    const client = (claims) => `new sdk.QueueServiceClient(${tls}, sdk.newPipeline(
      { getToken: async () => ({ token: ${token(claims)}, expiresOnTimestamp: Date.now() + 3600000 }) },
      { retryOptions: { maxTries: 1 } }))`;
    const r = overTls(server.cert, `
      const q = ${client(goodClaims())}.getQueueClient("oauth-q");
      await attempt("create", () => q.create().then(() => true));
      await attempt("send", () => q.sendMessage("by token").then(() => true));
      await attempt("receive", async () => (await q.receiveMessages()).receivedMessageItems[0].messageText);
      await attempt("acl", () => q.getAccessPolicy());
      await attempt("aud1", () => ${client({ ...goodClaims(), aud: "https://storage.azure.com/" })}.getProperties().then(() => true));
      await attempt("aud2", () => ${client({ ...goodClaims(), aud: "e406a681-f3d4-42a8-90b6-c2b029497af1" })}.getProperties().then(() => true));
      await attempt("aud3", () => ${client({ ...goodClaims(), aud: `https://${DEV_ACCOUNT}.queue.core.windows.net` })}.getProperties().then(() => true));
      await attempt("wrongAud", () => ${client({ ...goodClaims(), aud: "https://other.queue.core.windows.net" })}.getProperties());
      await attempt("expired", () => ${client({ ...goodClaims(), exp: now() - 60 })}.getProperties());
      await attempt("issuer", () => ${client({ ...goodClaims(), iss: "https://issuer.example/" })}.getProperties());
      await attempt("delete", () => q.delete().then(() => true));`);
    for (const step of ["create", "send", "aud1", "aud2", "aud3", "delete"])
      assert.equal(r[step].ok, true, `${step}: ${JSON.stringify(r[step])}`);
    assert.equal(r.receive.value, "by token");
    assert.deepEqual([r.acl.status, r.acl.code], [403, "AuthenticationFailed"]);
    assert.match(r.acl.detail, /not permitted with a bearer token/);
    for (const [step, detail] of [["wrongAud", /audience/], ["expired", /Lifetime validation failed. The token is expired/],
                                  ["issuer", /issuer/]]) {
      assert.deepEqual([r[step].status, r[step].code], [401, "InvalidAuthenticationInfo"], step);
      assert.match(r[step].detail, detail);
    }
  });

  test("bearer refusals over the wire: the challenge, plain HTTP", async () => {
    const get = (mod, opts) => new Promise((resolve, reject) => {
      mod.get({ host: "127.0.0.1", port: server.port, path: `/${DEV_ACCOUNT}?restype=service&comp=properties`, ...opts },
        (r) => { let body = ""; r.on("data", (d) => { body += d; }); r.on("end", () => resolve({ r, body })); })
        .on("error", reject);
    });
    const expired = jwt({ ...goodClaims(), exp: now() - 60 });
    const a = await get(https, { agent, headers: { authorization: `Bearer ${expired}`, "x-ms-version": "2025-05-05" } });
    assert.equal(a.r.statusCode, 401);
    assert.match(a.r.headers["www-authenticate"],
      /^Bearer authorization_uri=https:\/\/login\.microsoftonline\.com\/72f988bf-86f1-41af-91ab-2d7cd011db47\/oauth2\/authorize resource_id=https:\/\/storage\.azure\.com$/);
    assert.match(a.body, /<AuthenticationErrorDetail>Lifetime validation failed/);
    // The SDK itself refuses tokens over http; a raw client is told why.
    const b = await get(http, { headers: { authorization: `Bearer ${jwt(goodClaims())}` } });
    assert.equal(b.r.statusCode, 403);
    assert.match(b.body, /Authentication scheme Bearer is not allowed with HTTP/);
    const c = await get(https, { agent, headers: { authorization: "Bearer not-a-jwt" } });
    assert.equal(c.r.statusCode, 401);
    assert.equal(c.r.headers["x-ms-error-code"], "InvalidAuthenticationInfo");
  });
});
