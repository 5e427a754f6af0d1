// SIGKILL during a burst of 10,000 creates (256 in flight over keep-alive connections, signed
// like the SDK's): after a restart every acknowledged create is there, and every item that is
// there is whole (its body's checksum matches). Prints acknowledged / present / lost counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { signedRequest, startDocsServer } from "./lib/docs_server.mjs";

const sum = (id, payload) => crypto.createHash("sha256").update(`${id}|${payload}`).digest("hex");

test("SIGKILL during 10,000 concurrent creates: every acknowledged create survives, none torn", async () => {
  const server = await startDocsServer();
  let again;
  try {
    const db = await signedRequest(server.port, "POST", "/dbs", { type: "dbs", body: JSON.stringify({ id: "dur" }) });
    assert.equal(db.status, 201, db.text);
    const coll = await signedRequest(server.port, "POST", "/dbs/dur/colls", {
      type: "colls", link: "dbs/dur", body: JSON.stringify({ id: "c", partitionKey: { paths: ["/pk"], kind: "Hash" } }),
    });
    assert.equal(coll.status, 201, coll.text);
    const N = 10000, IN_FLIGHT = 256, KILL_AT = 3000;
    const acked = [];
    let next = 0, dead = false;
    const writer = async () => {
      while (!dead && next < N) {
        const i = next++;
        const id = `d${i}`, pk = `p${i % 97}`, payload = crypto.randomBytes(48 + (i % 200)).toString("base64");
        try {
          const r = await signedRequest(server.port, "POST", "/dbs/dur/colls/c/docs", {
            type: "docs", link: "dbs/dur/colls/c",
            headers: { "x-ms-documentdb-partitionkey": JSON.stringify([pk]) },
            body: JSON.stringify({ id, pk, payload, check: sum(id, payload) }),
          });
          if (r.status === 201) acked.push(id);
        } catch {
          return;  // the server is gone
        }
      }
    };
    const writers = Array.from({ length: IN_FLIGHT }, writer);
    const giveUp = Date.now() + 90000;
    while (acked.length < KILL_AT) {
      assert.ok(Date.now() < giveUp, `only ${acked.length} creates acknowledged within 90 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await server.kill9();
    dead = true;
    await Promise.allSettled(writers);
    const ackedAtKill = acked.length;
    again = await startDocsServer({ dataDir: server.dataDir });
    const present = new Map();
    let continuation;
    do {
      const page = await signedRequest(again.port, "GET", "/dbs/dur/colls/c/docs", {
        type: "docs", link: "dbs/dur/colls/c",
        headers: { "x-ms-max-item-count": "1000", ...(continuation ? { "x-ms-continuation": continuation } : {}) },
      });
      assert.equal(page.status, 200, page.text);
      for (const d of page.json.Documents) present.set(d.id, d);
      continuation = page.headers.get("x-ms-continuation");
    } while (continuation);
    const lost = acked.filter((id) => !present.has(id));
    const torn = [...present.values()].filter((d) => d.check !== sum(d.id, d.payload) || !d._etag || !d._rid);
    console.log(`SIGKILL during ${N} creates: ${ackedAtKill} acknowledged, ${present.size} present after restart ` +
                `(${present.size - ackedAtKill} committed but unanswered), lost ${lost.length}, torn ${torn.length}`);
    assert.equal(lost.length, 0, `lost: ${lost.slice(0, 5).join(" ")}`);
    assert.equal(torn.length, 0);
    assert.ok(present.size < N, "the kill landed before the burst was over");
  } finally {
    if (again) await again.stop();
    server.cleanup();
  }
});
