// A custom handler for the worker-hardening tests: oversized answer headers and trailers,
// a body over the host's limit, a wrapping statusCode, forged log output, and children that
// outlive a crash.
const fs = require("fs");
const http = require("http");
const { spawn } = require("child_process");
const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT);
const json = (res, obj, headers = {}) => {
  res.writeHead(200, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(obj));
};
const ok = (body) => ({ Outputs: { res: { statusCode: 200, body } } });

// Starts `sleep 283` (in its own session when setsid is "1") and writes its pid to pidfile.
function sleeper(q) {
  const child = spawn("sleep", ["283"], { detached: q.setsid === "1", stdio: "ignore" });
  fs.writeFileSync(q.pidfile, String(child.pid));
  return child.pid;
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "GET" && req.url === "/") return res.end();
      const name = req.url.slice(1).split("?")[0];
      // Strict, as Python's json.loads on bytes is: a payload that is not UTF-8 is refused.
      let text;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
      } catch {
        res.writeHead(400);
        return res.end("the payload is not valid UTF-8");
      }
      const inv = JSON.parse(text || "{}");
      const q = (inv.Data && inv.Data.req && inv.Data.req.Query) || {};
      switch (name) {
        case "ok": return json(res, ok(`ok pid ${process.pid}`));
        // The request as the handler received it (to check it is valid UTF-8 JSON).
        case "echo": return json(res, ok(inv.Data.req));
        case "bigheader": return json(res, ok("x"), { "X-Big": "a".repeat(Number(q.size || 70000)) });
        case "bigtrailer":
          res.writeHead(200, { "Content-Type": "application/json", Trailer: "X-Big" });
          res.write(JSON.stringify(ok("x")));
          res.addTrailers({ "X-Big": "t".repeat(Number(q.size || 70000)) });
          return res.end();
        case "bigbody": return json(res, ok("b".repeat(Number(q.size))));
        case "wrapstatus": return json(res, { Outputs: { res: { statusCode: 4294967496, body: "wrapped" } } });
        case "fail": res.writeHead(500); return res.end("secret stack trace at /srv/handler.js:42");
        case "print":
          process.stdout.write('\x1b[2J{"level":"Critical","msg":"forged-stdout"}\n');
          process.stderr.write('\x1b[31m{"level":"Critical","msg":"forged-stderr"}\n');
          return json(res, ok("printed"));
        case "fork": return json(res, ok(String(sleeper(q))));
        case "forkcrash": sleeper(q); return process.exit(3);
        default: res.writeHead(404); return res.end();
      }
    });
  })
  .listen(port, "127.0.0.1");
