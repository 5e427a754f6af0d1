// Moderation input bindings from a custom handler: the host moderates before each call and
// hands the verdict (or, without "text", the moderator's health) in Data, like any input.
// "moderate" answers the verdict; "health" the health; "submit" enqueues its body to "posts";
// "review" (queue-triggered) writes {id, verdict} to "verdicts", and a fail-open verdict also
// to the re-review queue, as an app would.
const http = require("http");
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const name = req.url.slice(1);
      if (req.method === "GET") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString());
      const send = (o) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(o));
      const ok = (body) => ({ statusCode: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (name === "moderate") return send({ Outputs: { res: ok(inv.Data.verdict) } });
      if (name === "health") return send({ Outputs: { res: ok(inv.Data.health) } });
      if (name === "submit")
        return send({ Outputs: { posts: inv.Data.req.Body, res: { statusCode: 202, body: "queued" } } });
      if (name === "review") {
        const post = JSON.parse(inv.Data.post);
        const out = JSON.stringify({ id: post.id, verdict: inv.Data.verdict });
        const outputs = { verdicts: out };
        if (inv.Data.verdict.failOpen) outputs.rereview = out;
        return send({ Outputs: outputs });
      }
      res.writeHead(404).end();
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
