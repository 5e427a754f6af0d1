// Queue trigger test handler (messageEncoding "none"): "work" returns the message plus its
// metadata to jobs-done via $return; "doomed" always fails; "submit" fans a JSON array out.
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
      if (name === "work")
        return send({ Outputs: {}, Logs: [`work ${inv.Data.item}`],
          ReturnValue: JSON.stringify({ item: inv.Data.item, meta: inv.Metadata }) });
      if (name === "doomed") return res.writeHead(500).end("doomed");
      if (name === "submit")
        return send({ Outputs: { jobs: JSON.parse(inv.Data.req.Body), res: { statusCode: 202, body: "queued" } } });
      res.writeHead(404).end();
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
