// Change-feed latency probe: for each changed event, the time from the writer's clock stamp
// (sentAt, ms) to this function's start, stored as a "seen" document the benchmark reads back.
const http = require("http");
http
  .createServer((req, res) => {
    const started = performance.timeOrigin + performance.now();
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "GET") return res.end();
      const docs = JSON.parse(JSON.parse(Buffer.concat(chunks).toString()).Data.docs);
      const seen = docs.map((d) => ({ id: d.id, run: d.run, latencyMs: +(started - d.sentAt).toFixed(3), batch: docs.length }));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ Outputs: { seen } }));
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
