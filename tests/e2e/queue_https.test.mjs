// The host's queue port serves HTTPS beside HTTP (one certificate for the document and queue
// ports, generated into the data directory): the official @azure/storage-queue client works
// with DefaultEndpointsProtocol=https when it trusts the certificate (NODE_EXTRA_CA_CERTS), and
// is refused with a certificate error, quickly, when it does not. The List Queues answer names
// the https endpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { appPath, startNimbus, stopNimbus } from "../integration/lib/nimbus.mjs";

const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const here = path.dirname(new URL(import.meta.url).pathname);

function client(port, env) {
  const cs = `DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=${KEY};` +
             `QueueEndpoint=https://127.0.0.1:${port}/devstoreaccount1;`;
  const script = `
    import { QueueServiceClient } from "@azure/storage-queue";
    const svc = QueueServiceClient.fromConnectionString(${JSON.stringify(cs)}, { retryOptions: { maxTries: 1 } });
    const q = svc.getQueueClient("tls-q");
    await q.createIfNotExists();
    await q.sendMessage("over tls");
    const { receivedMessageItems } = await q.receiveMessages();
    const names = [];
    for await (const item of svc.listQueues()) names.push(item.name);
    console.log(JSON.stringify({ text: receivedMessageItems[0].messageText, names, url: svc.url }));`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script],
                   { cwd: here, env: { ...process.env, ...env }, encoding: "utf8", timeout: 30000 });
}

test("the official queue client over https on the host's queue port", async () => {
  const host = await startNimbus(appPath("examples/hello"));
  try {
    assert.match(host.logs, /Queue service listening on http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1 and https:/);
    const cert = path.join(host.data, "tls", "cert.pem");
    const ok = client(host.queuePort, { NODE_EXTRA_CA_CERTS: cert });
    assert.equal(ok.status, 0, ok.stderr);
    const out = JSON.parse(ok.stdout.trim().split("\n").pop());
    assert.equal(out.text, "over tls");
    assert.ok(out.names.includes("tls-q"));
    assert.match(out.url, /^https:/);
    const refused = client(host.queuePort, { NODE_EXTRA_CA_CERTS: "" });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr + refused.stdout, /self[- ]signed|SELF_SIGNED|certificate/i);
  } finally {
    await stopNimbus(host);
  }
});
