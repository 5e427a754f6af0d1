// The durable examples as their READMEs use them: examples/durable-fanout (C++ orchestrators,
// started through the management API, an HTTP starter and a queue starter, and driven from the
// `nimbus durable` CLI) and examples/durable-node (the C++ orchestrator with its activity and
// its starter in a Node custom handler).
import { test } from "node:test";
import assert from "node:assert/strict";
import { appPath, keys, request, runNimbus, startNimbus, stopNimbus, waitFor } from "../integration/lib/nimbus.mjs";
import { b64, queueClient } from "../integration/lib/queues.mjs";

const BASE = "/runtime/webhooks/durabletask";

async function completed(port, url) {
  return waitFor(async () => {
    const r = await request(port, "GET", url);
    return r.json?.runtimeStatus === "Completed" ? r.json : null;
  }, { timeoutMs: 20000, what: `${url} to complete` });
}

test("examples/durable-fanout: management API, HTTP starter, queue starter and the CLI", async () => {
  const host = await startNimbus(appPath("examples/durable-fanout"));
  try {
    const code = keys(host).masterKey;
    const start = await request(host.port, "POST", `${BASE}/orchestrators/FanOut?code=${code}`, { body: '{"n":100}' });
    assert.equal(start.status, 202, start.body);
    const fan = await completed(host.port, new URL(start.json.statusQueryGetUri).pathname + `?code=${code}`);
    assert.deepEqual(fan.output, { sum: 338350 });

    const chain = await request(host.port, "POST", `${BASE}/orchestrators/Chain/chain-a?code=${code}`, { body: '{"steps":4}' });
    assert.equal(chain.status, 202);
    assert.equal((await completed(host.port, `${BASE}/instances/chain-a?code=${code}`)).output, 16);

    // The HTTP starter answers with create_check_status_response's 202.
    const http = await request(host.port, "POST", "/api/fanout/10");
    assert.equal(http.status, 202, http.body);
    assert.ok(http.headers.location.includes(`/instances/${http.json.id}`));
    assert.deepEqual((await completed(host.port, `${BASE}/instances/${http.json.id}?code=${code}`)).output, { sum: 385 });

    // The queue starter: one orchestration per message, started with its completion.
    const q = queueClient(host.queuePort).getQueueClient("fanout-requests");
    await q.createIfNotExists();
    await q.sendMessage(b64('{"n":3}'));
    const listed = await waitFor(async () => {
      const r = await request(host.port, "GET", `${BASE}/instances?runtimeStatus=Completed&showInput=true&code=${code}`);
      return r.json?.find((s) => s.input?.n === 3);
    }, { timeoutMs: 20000, what: "the queue-started FanOut" });
    assert.deepEqual(listed.output, { sum: 14 });

    // The CLI, against the same host.
    const cli = (...args) => runNimbus(["durable", ...args, "--endpoint", `http://127.0.0.1:${host.port}`, "--data", host.data]);
    const started = cli("start", "Chain", '{"steps":3}', "--id", "cli-1");
    assert.equal(started.code, 0, started.stderr);
    await completed(host.port, `${BASE}/instances/cli-1?code=${code}`);
    const status = cli("status", "cli-1", "--history");
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).output, 9);
    const list = cli("list", "--status", "Completed", "--prefix", "cli-");
    assert.equal(list.stdout.trim().split("\n").length, 1);
    const unknown = cli("start", "Nope");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HTTP 400: orchestrator 'Nope'/);
    assert.equal(cli("purge", "cli-1").code, 0);
    assert.equal(cli("status", "cli-1").code, 1);
    const noHost = runNimbus(["durable", "list", "--endpoint", "http://127.0.0.1:1"]);
    assert.equal(noHost.code, 2);
    assert.match(noHost.stderr, /cannot reach Nimbus/);
  } finally {
    await stopNimbus(host);
  }
});

test("examples/durable-node: a C++ orchestrator fans out to a Node activity; a Node starter uses durableClient", async () => {
  const host = await startNimbus(appPath("examples/durable-node"));
  try {
    const r = await request(host.port, "POST", "/api/fanout/10");
    assert.equal(r.status, 202, r.body);
    const url = new URL(r.json.statusQueryGetUri);
    assert.deepEqual((await completed(host.port, url.pathname + url.search)).output, { sum: 385 });
  } finally {
    await stopNimbus(host);
  }
});
