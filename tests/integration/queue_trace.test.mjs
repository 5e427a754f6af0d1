// W3C trace context across a queue (issue 8, item 2): the traceparent of the invocation that
// puts a message (an output binding), or of a producer's Put Message request, is kept beside the
// message (never in its text) and the invocation the message triggers continues that trace.
// Real host, the queue-node example (HTTP -> orders -> process), Node's http as the client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appPath, request, startNimbus, stopNimbus, waitFor } from "./lib/nimbus.mjs";
import { request as queueRequest } from "../e2e/lib/queue_signer.mjs";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER = "00f067aa0ba902b7";

// The JSON log records of `fn`'s finished invocations.
function finished(host, fn) {
  return host.logs.split("\n").filter((l) => l.includes('"msg":"invocation finished"') && l.includes(`"function":"${fn}"`))
    .map((l) => JSON.parse(l));
}

test("an HTTP request's trace continues through a queue output into the queue-triggered function", async () => {
  const host = await startNimbus(appPath("examples/queue-node"));
  try {
    const r = await request(host.port, "POST", "/api/orders", {
      body: "order-traced", headers: { traceparent: `00-${TRACE}-${CALLER}-01` },
    });
    assert.equal(r.status, 202, r.body);
    const http = await waitFor(() => finished(host, "enqueue").find((l) => l.traceId === TRACE) ?? null,
      { timeoutMs: 10000, what: "the enqueue log line" });
    assert.equal(http.parentSpanId, CALLER);
    const queued = await waitFor(() => finished(host, "process").find((l) => l.traceId === TRACE) ?? null,
      { timeoutMs: 10000, what: "the process invocation in the caller's trace" });
    // The queue-triggered span is a child of the HTTP invocation's span, not of the caller's.
    assert.equal(queued.parentSpanId, http.spanId);
    assert.notEqual(queued.spanId, http.spanId);

    // Without a traceparent, the message's invocation still joins the HTTP invocation's trace.
    assert.equal((await request(host.port, "POST", "/api/orders", { body: "order-plain" })).status, 202);
    await waitFor(() => {
      const e = finished(host, "enqueue").filter((l) => l.traceId !== TRACE);
      const p = finished(host, "process").filter((l) => l.traceId !== TRACE);
      return e.length && p.some((x) => x.traceId === e[0].traceId && x.parentSpanId === e[0].spanId) ? true : null;
    }, { timeoutMs: 10000, what: "the untraced order's process invocation in the enqueue trace" });
  } finally {
    await stopNimbus(host);
  }
});

test("a producer's traceparent on Put Message is kept with the message; an invalid one starts a new trace", async () => {
  const host = await startNimbus(appPath("examples/queue-node"));
  try {
    // Put Message signed with the development account's SharedKey, as any Azure client does.
    const put = async (text, headers) => (await queueRequest(host.queuePort, {
      method: "POST", path: "/devstoreaccount1/orders/messages", headers,
      body: `<QueueMessage><MessageText>${Buffer.from(text).toString("base64")}</MessageText></QueueMessage>`,
    })).status;
    // The queue exists once the host has listened on it (the trigger creates it).
    const producer = "1111111111111111";
    assert.equal(await put("from-producer", { traceparent: `00-${TRACE}-${producer}-01` }), 201);
    const p = await waitFor(() => finished(host, "process").find((l) => l.traceId === TRACE) ?? null,
      { timeoutMs: 10000, what: "the producer's message processed in its trace" });
    assert.equal(p.parentSpanId, producer);
    assert.equal(await put("bad-trace", { traceparent: "00-zz-yy-01" }), 201);
    await waitFor(() => finished(host, "process").length >= 2 || null, { timeoutMs: 10000, what: "the second message" });
    assert.ok(finished(host, "process").every((l) => l.traceId.length === 32));
  } finally {
    await stopNimbus(host);
  }
});
