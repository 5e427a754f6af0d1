// The plain Node `http` hello server that Nimbus is compared against.
const http = require("http");
const body = JSON.stringify({ hello: "world" });
http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(Number(process.argv[2] || 8080), "127.0.0.1");
