// "Every accepted message is durable before it is acknowledged", tested where SIGKILL cannot
// reach: a SIGKILLed process leaves its writes in the page cache, so a kill-and-restart test
// passes just as well with syncing off. Here nimbus-queue-server runs with sync_shim.cc
// preloaded, which logs, under one process-wide sequence number:
//   sync  a completed fdatasync/fsync of a file in the data directory (seq after it returned),
//   req   a request line read from a client socket (seq after the read),
//   ack   a "HTTP/1.1 201" about to be sent on a client socket (seq before the send).
// An acknowledged put is covered when a sync of a database file (nimbus.db, its -wal or
// -journal) completed after its request was read and before its 201 was sent:
//   req(fd).seq < sync.seq < ack(fd).seq.
// Sequential puts on one connection make this exact: request i+1 is only sent after 201 i
// arrived, so the sync between them belongs to put i+1's commit. Concurrent puts (group
// commit, one sync for a batch) are checked the same way, which there is weaker (a sync of an
// earlier batch may complete after the request was read) but catches acknowledging a batch
// before any sync.
// Why it can fail: in WAL mode, `--sync normal` commits without syncing (SQLite syncs the WAL
// only at checkpoints) and `--sync off` never syncs; the second test runs the very same check
// against both and requires it to report uncovered acks, so the check is shown to bite.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

const ROOT = process.env.NIMBUS_ROOT;
const BUILD = path.dirname(process.env.NIMBUS_QUEUE_SERVER_BIN || process.env.NIMBUS_BIN || "");
const SERVER = process.env.NIMBUS_QUEUE_SERVER_BIN || path.join(BUILD, "nimbus-queue-server");
const SHIM = process.env.NIMBUS_SYNC_SHIM ||
  path.join(BUILD, "tests/integration/fsync_shim/libnimbus_sync_shim.so");
if (!ROOT || !fs.existsSync(SERVER) || !fs.existsSync(SHIM))
  throw new Error(`needs NIMBUS_ROOT, nimbus-queue-server (${SERVER}) and the shim (${SHIM}); run through ctest`);
const { request } = await import(path.join(ROOT, "tests/e2e/lib/queue_signer.mjs"));

const SEQUENTIAL = 40;
const LANES = 8;
const PER_LANE = 20;

// Starts the server with the shim; resolves { port, stop() } once it listens (bounded).
async function startWithShim(dataDir, logFile, extraArgs) {
  const proc = spawn(SERVER, ["--port", "0", "--data", dataDir, "--log-level", "Warning", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LD_PRELOAD: SHIM, NIMBUS_SYNC_SHIM_LOG: logFile },
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const exited = new Promise((r) => proc.on("exit", (code, signal) => r({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 10 s: ${out}`)), 10000);
    proc.stdout.on("data", () => {
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then((e) => { clearTimeout(timer); reject(new Error(`server exited (${JSON.stringify(e)}): ${out}`)); });
  });
  return {
    port,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10000);
      const e = await exited;
      clearTimeout(t);
      return e;
    },
  };
}

const put = (port, agent, queue, text) => request(port, {
  method: "POST", path: `/devstoreaccount1/${queue}/messages`, agent,
  body: `<QueueMessage><MessageText>${text}</MessageText></QueueMessage>`,
});

// Runs the workload against a fresh server with `args`; returns what the shim saw.
async function run(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nimbus-fsync-"));
  const data = path.join(dir, "data");
  fs.mkdirSync(data);
  const logFile = path.join(dir, "shim.log");
  const server = await startWithShim(data, logFile, args);
  let clientAcks = 0;
  try {
    const one = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const created = await request(server.port, { method: "PUT", path: "/devstoreaccount1/durable", agent: one });
    assert.equal(created.status, 201, created.body);
    clientAcks++;
    for (let i = 0; i < SEQUENTIAL; i++) {
      const r = await put(server.port, one, "durable", `seq${i}`);
      assert.equal(r.status, 201, r.body);
      clientAcks++;
    }
    one.destroy();
    const many = new http.Agent({ keepAlive: true, maxSockets: LANES });
    await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
      for (let i = 0; i < PER_LANE; i++) {
        const r = await put(server.port, many, "durable", `c${lane}-${i}`);
        assert.equal(r.status, 201, r.body);
        clientAcks++;
      }
    }));
    many.destroy();
  } finally {
    const e = await server.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  }
  const realData = fs.realpathSync(data);
  const events = fs.readFileSync(logFile, "utf8").split("\n").filter(Boolean).map((line) => {
    const [kind, seq, ...rest] = line.split(" ");
    return { kind, seq: Number(seq), rest };
  }).sort((a, b) => a.seq - b.seq);
  fs.rmSync(dir, { recursive: true, force: true });

  // Walk the events in sequence order: the latest database sync, the latest request per socket.
  let lastSync = 0;
  const lastReq = new Map();
  const acks = [];
  let dbSyncs = 0;
  for (const e of events) {
    if (e.kind === "sync") {
      const file = e.rest[2] ?? "";
      if (file.startsWith(realData + path.sep) && path.basename(file).startsWith("nimbus.db")) {
        lastSync = e.seq;
        dbSyncs++;
      }
    } else if (e.kind === "req") {
      lastReq.set(e.rest[0], e.seq);
    } else if (e.kind === "ack") {
      const req = lastReq.get(e.rest[0]);
      acks.push({ seq: e.seq, req, covered: req !== undefined && lastSync > req });
    }
  }
  return { clientAcks, acks, uncovered: acks.filter((a) => !a.covered), dbSyncs };
}

test("every 201 of the queue service follows a completed fdatasync of its commit (default sync: full)", async () => {
  const r = await run([]);
  // The shim saw every acknowledgement the client got (else the check below would be vacuous).
  assert.equal(r.acks.length, r.clientAcks, "201s seen by the shim = 201s received");
  assert.equal(r.clientAcks, 1 + SEQUENTIAL + LANES * PER_LANE);
  assert.deepEqual(r.uncovered, [], "acknowledged before a sync of the database completed");
  // Sequential puts cannot share a commit: at least one database sync each.
  assert.ok(r.dbSyncs >= 1 + SEQUENTIAL, `${r.dbSyncs} database syncs for ${r.clientAcks} acks`);
  console.log(`sync full: ${r.clientAcks} acks, all covered; ${r.dbSyncs} database syncs`);
});

test("the same check reports uncovered acks when the server does not sync (--sync normal, --sync off)", async () => {
  for (const mode of ["normal", "off"]) {
    const r = await run(["--sync", mode]);
    assert.equal(r.acks.length, r.clientAcks, `${mode}: 201s seen by the shim = 201s received`);
    // A checkpoint (every ~1000 WAL pages) may sync now and then; this workload writes far
    // fewer pages, so nearly every ack is uncovered. Require most, to show the check bites.
    assert.ok(r.uncovered.length > r.clientAcks / 2,
      `${mode}: only ${r.uncovered.length} of ${r.clientAcks} acks uncovered (${r.dbSyncs} database syncs)`);
    console.log(`sync ${mode}: ${r.uncovered.length} of ${r.clientAcks} acks uncovered; ${r.dbSyncs} database syncs`);
  }
});
