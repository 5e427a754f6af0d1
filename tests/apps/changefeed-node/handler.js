// cosmosDBTrigger test handler. "audit" writes one audit document per changed order (no id,
// so a batch run twice would show as duplicates) and one message per batch; an order with
// "failTimes": n fails its first n deliveries. "stats" counts the documents of each batch.
// "lookup" (HTTP) answers with its two cosmosDB inputs as it received them. "late" watches a
// container the tests create after the host started, sending each id to late-seen.
const http = require("http");
const failures = new Map();
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const name = req.url.slice(1);
      if (req.method === "GET") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString());
      const send = (o) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(o));
      if (name === "audit") {
        const raw = inv.Data.documents;
        const docs = Array.isArray(raw) ? raw : JSON.parse(raw);
        for (const d of docs) {
          if (!d.failTimes) continue;
          const key = `${d.id}/${d._etag}`;
          const seen = failures.get(key) ?? 0;
          if (seen < d.failTimes) {
            failures.set(key, seen + 1);
            return res.writeHead(500).end(`failing ${d.id} on purpose (${seen + 1}/${d.failTimes})`);
          }
        }
        return send({
          Outputs: {
            audit: docs.map((d) => ({ src: d.id, v: d.v ?? null, lsn: d._lsn, payloadType: typeof raw })),
            done: JSON.stringify({ batch: docs.map((d) => d.id) }),
          },
          Logs: [`audit ${docs.length}`],
        });
      }
      if (name === "lookup")
        return send({ Outputs: { res: { statusCode: 200, body: JSON.stringify({ order: inv.Data.order, mine: inv.Data.mine }) } } });
      if (name === "late")
        return send({ Outputs: { seen: JSON.parse(inv.Data.docs).map((d) => d.id) } });
      if (name === "stats") {
        const docs = JSON.parse(inv.Data.changes);
        return send({ Outputs: { counts: String(docs.length) } });
      }
      res.writeHead(404).end();
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
