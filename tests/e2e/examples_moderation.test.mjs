// The reference app, examples/moderation, as its README uses it, with real processes: the
// Nimbus host with its native workers, the built-in queue and document services, and the
// Gemini test double (tools/gemini-double) for the AI provider.
//   1. local rules (no key): every API flow, the change-feed statistics, bulk import through the
//      queue, a poisoned import message, and bad input answered 400 naming the field;
//   2. Gemini down: posts fail open to pending-review and wait in the re-review queue; the
//      breaker opens; once the double recovers the re-review makes them approved;
//   3. SIGKILL of the host while 300 posts are being moderated: after a restart every accepted
//      post is moderated, none lost.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT, copyApp, metricValue, request, startNimbus, stopNimbus, tempDir, waitFor } from "../integration/lib/nimbus.mjs";
import { b64, queueClient } from "../integration/lib/queues.mjs";

const json = (body) => ({ body: JSON.stringify(body), headers: { "content-type": "application/json" } });

// The app with its local.settings.json Values replaced (the Gemini settings, a fast sweep).
function app(values = {}, patchHost) {
  const dir = copyApp("examples/moderation", patchHost);
  fs.writeFileSync(path.join(dir, "local.settings.json"), JSON.stringify({
    IsEncrypted: false, Values: { REREVIEW_SCHEDULE: "*/1 * * * * *", ...values },
  }));
  return dir;
}

async function moderated(port, id, author, { timeoutMs = 20000, status } = {}) {
  return waitFor(async () => {
    const r = await request(port, "GET", `/api/posts/${id}?author=${encodeURIComponent(author)}`);
    const s = r.json?.moderation?.status;
    if (status ? s === status : s && s !== "pending") return r.json;
    return null;
  }, { timeoutMs, what: `post ${id} to be ${status ?? "moderated"}` });
}

let gemini = null;
after(() => gemini?.child.kill("SIGTERM"));

function startGeminiDouble() {
  const child = spawn(process.execPath, [path.join(ROOT, "tools/gemini-double/server.mjs"), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (c) => reject(new Error(`the Gemini double exited with ${c}: ${out}`)));
  });
}

function setFaults(port, spec) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/_double/faults", method: "POST",
      headers: { "content-type": "application/json" } }, (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", reject);
    req.end(JSON.stringify({ spec }));
  });
}

test("local rules: posts, analyze, author lists and statistics, bulk import, poison, bad input", async () => {
  const host = await startNimbus(app());
  try {
    const p = host.port;
    const ok = await request(p, "POST", "/api/posts", json({ author: "ada", text: "The analytical engine weaves algebraic patterns." }));
    assert.equal(ok.status, 202, ok.body);
    assert.match(ok.json.id, /^[0-9a-f]{32}$/);
    assert.equal(ok.json.status, "pending");
    const spam = await request(p, "POST", "/api/posts", json({ author: "ada", text: "Buy now! Click here for free money http://a http://b http://c http://d" }));
    assert.equal(spam.status, 202);

    const good = await moderated(p, ok.json.id, "ada");
    assert.equal(good.moderation.status, "approved", JSON.stringify(good.moderation));
    assert.deepEqual(good.moderation.checks.map((c) => c.check).sort(), ["ai", "length", "rules"]);
    const ai = good.moderation.checks.find((c) => c.check === "ai");
    assert.equal(ai.provider, "local-rules");
    assert.equal(ai.failOpen, false);
    assert.equal(good.moderation.checks.find((c) => c.check === "length").language, "en");
    const bad = await moderated(p, spam.json.id, "ada");
    assert.equal(bad.moderation.status, "rejected");
    assert.ok(bad.moderation.checks.find((c) => c.check === "rules").reasons.length >= 2);

    // Without ?author= the id is looked up in every partition; with the wrong author, 404.
    assert.equal((await request(p, "GET", `/api/posts/${ok.json.id}`)).json.author, "ada");
    assert.equal((await request(p, "GET", `/api/posts/${ok.json.id}?author=bob`)).status, 404);
    assert.equal((await request(p, "GET", "/api/posts/nope?author=ada")).status, 404);

    const analyze = await request(p, "POST", "/api/analyze", json({ text: "you are an idiot" }));
    assert.equal(analyze.status, 200, analyze.body);
    assert.ok(["approved", "rejected", "pending-review"].includes(analyze.json.status));
    assert.equal(analyze.json.provider, "local-rules");
    // No "text" for the binding's {text}: 400 naming the binding and the expression.
    const noText = await request(p, "POST", "/api/analyze", json({ txt: "typo" }));
    assert.equal(noText.status, 400, noText.body);
    assert.match(noText.json.error.message, /input binding "verdict" \(moderation\): text "\{text\}"/);

    const list = await request(p, "GET", "/api/authors/ada/posts");
    assert.equal(list.status, 200);
    assert.equal(list.json.posts.length, 2);

    // The change feed keeps the statistics; the orchestrations keep the summary.
    const author = await waitFor(async () => {
      const r = await request(p, "GET", "/api/authors/ada");
      return r.json?.stats?.approved === 1 && r.json?.stats?.rejected === 1 ? r.json : null;
    }, { timeoutMs: 20000, what: "ada's statistics" });
    assert.equal(author.stats.posts, 2);
    assert.ok([ok.json.id, spam.json.id].includes(author.summary.lastPostId));
    assert.equal((await request(p, "GET", "/api/authors/nobody")).status, 404);

    // Bulk import through the posts-import queue.
    const imp = await request(p, "POST", "/api/import", json([
      { author: "grace", text: "Compilers translate programs." },
      { author: "grace", text: "Nanoseconds are short.", id: "grace-2" },
    ]));
    assert.equal(imp.status, 202, imp.body);
    assert.equal(imp.json.queued, 2);
    assert.equal((await moderated(p, "grace-2", "grace")).moderation.status, "approved");
    await waitFor(async () => (await request(p, "GET", "/api/authors/grace/posts")).json?.posts?.length === 2 || null,
      { timeoutMs: 20000, what: "both imported posts" });

    // Bad input: 400 naming the field and the fix; nothing is queued.
    const noAuthor = await request(p, "POST", "/api/posts", json({ text: "x" }));
    assert.equal(noAuthor.status, 400);
    assert.match(noAuthor.json.error.message, /the body\.author must be a non-empty string/);
    assert.equal((await request(p, "POST", "/api/posts", { body: "{not json" })).status, 400);
    const big = await request(p, "POST", "/api/posts", json({ author: "a", text: "x".repeat(10001) }));
    assert.match(big.json.error.message, /longer than 10000 bytes/);
    const badItem = await request(p, "POST", "/api/import", json([{ author: "a", text: "ok" }, { author: "a/b", text: "x" }]));
    assert.equal(badItem.status, 400);
    assert.match(badItem.json.error.message, /item \[1\]\.author may not contain '\/'/);
    assert.equal((await request(p, "POST", "/api/import", json({ author: "a" }))).status, 400);

    // Another producer puts a message that is not a post: retried, then moved to the poison
    // queue with its text intact; the host and the other posts carry on.
    const qs = queueClient(host.queuePort);
    await qs.getQueueClient("posts-import").sendMessage(b64('{"author": 42}'));
    const poison = qs.getQueueClient("posts-import-poison");
    const peeked = await waitFor(async () => {
      try {
        const r = await poison.peekMessages();
        return r.peekedMessageItems.length ? r.peekedMessageItems : null;
      } catch { return null; }
    }, { timeoutMs: 60000, what: "the bad message in posts-import-poison" });
    assert.equal(Buffer.from(peeked[0].messageText, "base64").toString(), '{"author": 42}');
    assert.equal((await request(p, "POST", "/api/posts", json({ author: "ada", text: "still here" }))).status, 202);
  } finally {
    await stopNimbus(host);
  }
});

// maxDequeueCount 1: a re-review message that fails once goes straight to the poison queue, so
// after the recovery only the timer (ReReviewSweep, every second here) can bring the posts back:
// this is the path for posts whose re-review ran out of attempts during a long outage.
test("Gemini down: fail open to pending-review, breaker opens, the re-review timer approves after recovery", async () => {
  gemini = await startGeminiDouble();
  await setFaults(gemini.port, "status=500");
  const host = await startNimbus(app({ GEMINI_API_KEY: "test-key", GEMINI_ENDPOINT: `http://127.0.0.1:${gemini.port}` },
    (h) => { h.extensions.queues.maxDequeueCount = 1; }));
  try {
    const p = host.port;
    const ids = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(p, "POST", "/api/posts", json({ author: "lin", text: `post number ${i} about looms` }));
      assert.equal(r.status, 202, r.body);
      ids.push(r.json.id);
    }
    for (const id of ids) {
      const post = await moderated(p, id, "lin", { status: "pending-review" });
      assert.equal(post.moderation.failOpen, true);
      const ai = post.moderation.checks.find((c) => c.check === "ai");
      assert.equal(ai.failOpen, true);
      assert.ok(ai.reason.length > 0);
    }
    // Synchronous analysis fails open too, and fast once the breaker is open.
    const a = await request(p, "POST", "/api/analyze", json({ text: "hello" }));
    assert.equal(a.status, 200);
    assert.equal(a.json.status, "pending-review");
    assert.equal(a.json.failOpen, true);
    await waitFor(async () => (await metricValue(host, /nimbus_moderation_breaker_state(?:\{[^}]*\})? (\d+)/)) === 2 || null,
      { timeoutMs: 20000, what: "the breaker to open" });
    assert.ok(await metricValue(host, /nimbus_moderation_fail_open_total(?:\{[^}]*\})? (\d+)/) >= 5);
    // Every re-review message failed and was poisoned: nothing waits in the re-review queue.
    await waitFor(async () => (await metricValue(host, /nimbus_queue_depth\{queue="moderation-rereview-poison"\} (\d+)/)) >= 4 || null,
      { timeoutMs: 20000, what: "the failed re-review messages in moderation-rereview-poison" });

    // Recovery: the double answers again; the re-review queue (and the sweep) approve them.
    await setFaults(gemini.port, "");
    for (const id of ids) {
      const post = await moderated(p, id, "lin", { status: "approved", timeoutMs: 60000 });
      const ai = post.moderation.checks.find((c) => c.check === "ai");
      assert.equal(ai.provider, "gemini");
      assert.equal(ai.failOpen, false);
    }
    assert.match(host.logs, /"category":"Function\.ReReviewSweep\.User","msg":"re-queued \d+ post\(s\)"/);
    // A model rejection through the real client path.
    const hate = await request(p, "POST", "/api/posts", json({ author: "lin", text: "I hate you" }));
    assert.equal((await moderated(p, hate.json.id, "lin")).moderation.status, "rejected");
    await waitFor(async () => (await metricValue(host, /nimbus_moderation_breaker_state(?:\{[^}]*\})? (\d+)/)) === 0 || null,
      { timeoutMs: 20000, what: "the breaker to close" });
  } finally {
    await stopNimbus(host);
  }
});

test("SIGKILL while 300 posts are moderated: after a restart every accepted post is moderated", async () => {
  const dir = app();
  const data = tempDir("nimbus-moderation-");
  let host = await startNimbus(dir, ["--data", data]);
  const accepted = [];
  try {
    let next = 0;
    const lane = async () => {
      while (next < 300) {
        const i = next++;
        const r = await request(host.port, "POST", "/api/posts",
          json({ author: `author-${i % 7}`, text: `post ${i}: the engine is ${i % 3 ? "fine" : "buy now free money"}` }));
        if (r.status === 202) accepted.push({ id: r.json.id, author: `author-${i % 7}` });
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    assert.equal(accepted.length, 300);
    host.proc.kill("SIGKILL");
    await new Promise((r) => (host.exited ? r() : host.proc.on("exit", r)));
    host = await startNimbus(dir, ["--data", data]);
    const counts = await waitFor(async () => {
      const c = { approved: 0, rejected: 0, other: 0 };
      for (const a of ["author-0", "author-1", "author-2", "author-3", "author-4", "author-5", "author-6"]) {
        const r = await request(host.port, "GET", `/api/authors/${a}/posts`);
        for (const post of r.json?.posts ?? []) c[post.status in c ? post.status : "other"]++;
      }
      return c.approved + c.rejected === 300 ? c : null;
    }, { timeoutMs: 60000, intervalMs: 200, what: "all 300 posts to be moderated after the restart" });
    assert.equal(counts.rejected, 100);
    assert.equal(counts.approved, 200);
    // The statistics converge to the same numbers.
    await waitFor(async () => {
      let posts = 0;
      for (let k = 0; k < 7; k++) posts += (await request(host.port, "GET", `/api/authors/author-${k}`)).json?.stats?.approved ?? 0;
      return posts === 200 || null;
    }, { timeoutMs: 30000, what: "the change-feed statistics to converge" });
  } finally {
    await stopNimbus(host);
  }
});
