// The documents examples as their READMEs use them: POST a note, read it back by id and by
// author, and see the change-feed function's word counts — for the custom handler (Node) and
// the native C++ app, each on a fresh data directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appPath, request, startNimbus, stopNimbus, waitFor } from "../integration/lib/nimbus.mjs";

for (const app of ["examples/documents-node", "examples/documents-native"]) {
  test(`${app}: notes are stored, read back and counted by the change feed`, async () => {
    const host = await startNimbus(appPath(app));
    try {
      const post = (body) => request(host.port, "POST", "/api/notes", { body: JSON.stringify(body) });
      const a = await post({ author: "ada", text: "hello analytical engine" });
      assert.equal(a.status, 201, a.body);
      const b = await post({ author: "ada", text: "notes on the engine" });
      assert.equal(b.status, 201, b.body);
      const got = await request(host.port, "GET", `/api/notes/ada/${a.json.id}`);
      assert.equal(got.status, 200, got.body);
      assert.equal(got.json.text, "hello analytical engine");
      assert.equal((await request(host.port, "GET", "/api/notes/ada/missing")).status, 404);
      assert.equal((await request(host.port, "GET", `/api/notes/bob/${a.json.id}`)).status, 404);
      const list = await request(host.port, "GET", "/api/authors/ada/notes");
      assert.deepEqual(list.json.map((n) => n.id).sort(), [a.json.id, b.json.id].sort());
      const words = await waitFor(async () => {
        const r = await request(host.port, "GET", "/api/authors/ada/words");
        return r.json?.notes === 2 && r.json;
      }, { timeoutMs: 10000, what: "both notes counted" });
      assert.equal(words.words, 7);
      const bad = await request(host.port, "POST", "/api/notes", { body: "not json" });
      assert.equal(bad.status, 400);
    } finally {
      await stopNimbus(host);
    }
  });
}
