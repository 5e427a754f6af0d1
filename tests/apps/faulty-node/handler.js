// A custom handler that misbehaves on purpose, for isolation tests.
const http = require("http");
const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT);
const reply = (res, obj) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify(obj));
};
const ok = (body, extra = {}) => ({ Outputs: { res: { statusCode: 200, body, ...extra } }, Logs: ["ran"] });

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const name = req.url.slice(1).split("?")[0];
      if (req.method === "GET" && req.url === "/") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      switch (name) {
        case "ok": return reply(res, ok(`ok pid ${process.pid}`));
        case "crash": process.exit(3);
        case "hang": return; // never answers
        case "garbage": res.writeHead(200); return res.end("this is not json");
        case "fail": res.writeHead(500); return res.end("handler failed on purpose");
        case "badstatus": return reply(res, { Outputs: { res: { statusCode: "teapot" } } });
        case "payload":
          return reply(res, ok(inv, { headers: { "X-Invocation-Id": req.headers["x-azure-functions-invocationid"] || "" } }));
        case "env":
          return reply(res, ok({
            GREETING: process.env.GREETING || null,
            port: process.env.FUNCTIONS_CUSTOMHANDLER_PORT,
            workerId: process.env.FUNCTIONS_CUSTOMHANDLER_WORKER_ID,
            appRoot: process.env.FUNCTIONS_APP_ROOT_PATH,
          }));
        default: res.writeHead(404); return res.end();
      }
    });
  })
  .listen(port, "127.0.0.1");
