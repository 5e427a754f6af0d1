// Queue-trigger benchmark handler: "drain" does nothing; "latency" returns how long after the
// producer began its put this handler started (microseconds, wall clock).
const http = require("http");
const { performance } = require("perf_hooks");
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const started = nowUs();
      if (req.method === "GET") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString());
      const out = req.url === "/latency" ? { ReturnValue: String(started - Number(inv.Data.msg)) } : {};
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
