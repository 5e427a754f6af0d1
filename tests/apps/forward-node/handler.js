// Forwarding mode: the host passes the original request through; the answer goes back as is.
// A few paths answer the way real servers sometimes do, to test the host's framing:
// interim 1xx answers, HEAD, bytes after a complete answer, and a dropped connection.
const http = require("http");
let drops = 0;  // requests received and dropped without an answer (/proxy/drop)
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const path = req.url.split("?")[0];
      if (path === "/proxy/early-hints") res.writeEarlyHints({ link: "</style.css>; rel=preload" });
      if (path === "/proxy/drop") {
        drops++;
        return req.socket.destroy();
      }
      if (path === "/proxy/drops") {
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ drops }));
      }
      if (path === "/proxy/two-answers") {
        // A complete answer followed by a second one nobody asked for; the response object is
        // left open, so a reused connection would hand the second one to the next caller.
        req.socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" +
                         "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Stale: 1\r\n\r\nstale!");
        return;
      }
      res.writeHead(201, { "Content-Type": "application/json", "X-Handler": "forward" });
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString(),
        invocationId: req.headers["x-azure-functions-invocationid"] || null,
        expect: req.headers.expect || null,
        traceparent: req.headers.traceparent || null, tracestate: req.headers.tracestate || null }));
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
