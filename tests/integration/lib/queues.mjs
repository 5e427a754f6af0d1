// The official @azure/storage-queue client (installed by scripts/npm-deps.sh into
// tests/e2e/node_modules) pointed at a running Nimbus host's queue service.
import { createRequire } from "node:module";
import path from "node:path";
import { ROOT, sleep } from "./nimbus.mjs";

const require = createRequire(path.join(ROOT, "tests/e2e/package.json"));
export const { QueueServiceClient } = require("@azure/storage-queue");

export const DEV_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export function queueClient(port) {
  return QueueServiceClient.fromConnectionString(
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};` +
      `QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
    { retryOptions: { maxTries: 1 } },
  );
}

export const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
export const unb64 = (s) => Buffer.from(s, "base64").toString("utf8");

// Sends `texts` with at most `concurrency` puts in flight.
export async function putAll(queue, texts, concurrency = 32) {
  let next = 0;
  async function lane() {
    while (next < texts.length) {
      const t = texts[next++];
      await queue.sendMessage(t);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
}

// Receives and deletes everything that arrives in `queue` until `want` messages were seen or
// `timeoutMs` passed; returns the texts.
export async function drain(queue, want, timeoutMs = 30000) {
  const seen = [];
  const t0 = Date.now();
  while (seen.length < want && Date.now() - t0 < timeoutMs) {
    let r;
    try {
      r = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
    } catch (e) {
      if (e.statusCode !== 404) throw e;  // the queue is created by its first message
      r = { receivedMessageItems: [] };
    }
    if (r.receivedMessageItems.length === 0) {
      await sleep(50);
      continue;
    }
    for (const m of r.receivedMessageItems) {
      seen.push(m.messageText);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
  }
  return seen;
}

export async function approxCount(queue) {
  return (await queue.getProperties()).approximateMessagesCount;
}
