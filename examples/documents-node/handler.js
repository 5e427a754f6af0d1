// A notes API on documents, as a custom handler with no dependencies (Node's http module).
// The host reads and writes the documents through the functions' cosmosDB bindings; this
// process only turns requests into documents and back.
const http = require("http");
const crypto = require("crypto");

const reply = (statusCode, body) => ({
  Outputs: { res: { statusCode, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } },
});
// A query's rows arrive as JSON text, a single document as an object (Azure's conversion).
const rows = (v) => (typeof v === "string" ? JSON.parse(v) : v ?? []);

const functions = {
  // POST /api/notes {"author","text"} -> 201 {"id"}; the note is durable before the answer.
  "create-note": (data) => {
    let note;
    try {
      note = JSON.parse(data.req.Body);
    } catch {
      return reply(400, { error: "the body must be JSON: {\"author\": \"...\", \"text\": \"...\"}" });
    }
    if (typeof note.author !== "string" || !note.author || typeof note.text !== "string")
      return reply(400, { error: "author (a non-empty string) and text (a string) are required" });
    const id = crypto.randomUUID();
    const out = reply(201, { id });
    out.Outputs.note = { id, author: note.author, text: note.text };
    return out;
  },
  // GET /api/notes/{author}/{id} -> the note, 404 when the input binding found none.
  "get-note": (data) => (data.note ? reply(200, data.note) : reply(404, { error: "no such note" })),
  // GET /api/authors/{author}/notes -> newest first.
  "author-notes": (data) => reply(200, rows(data.notes)),
  // Change feed of notes: one word-count document per note (same id, so an edit replaces it).
  "count-words": (data) => {
    const notes = rows(data.notes);
    return {
      Outputs: {
        counts: notes.map((n) => ({ id: n.id, author: n.author, words: n.text.split(/\s+/).filter(Boolean).length })),
      },
      Logs: [`counted words of ${notes.length} note(s)`],
    };
  },
  // GET /api/authors/{author}/words -> {"notes": n, "words": total}.
  "author-words": (data) => reply(200, rows(data.total)[0] ?? { notes: 0 }),
};

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const fn = functions[req.url.slice(1)];
      if (!fn) return res.writeHead(404).end();
      const answer = fn(JSON.parse(Buffer.concat(chunks).toString()).Data);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
