// Forwarding mode: the host passes the original request through; the answer goes back as is.
const http = require("http");
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(201, { "Content-Type": "application/json", "X-Handler": "forward" });
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString(),
        invocationId: req.headers["x-azure-functions-invocationid"] || null }));
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
