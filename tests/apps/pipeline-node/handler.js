// A custom handler that reports how the host shares its connections, for the pipelining
// tests: per socket, the requests that arrived while earlier ones on it were unanswered.
const http = require("http");
const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT);

let sockets = 0;
let stats;
const reset = () => (stats = { maxQueued: 1, slowQueuedMax: 0, fastBehindSlow: 0 });
reset();

const answer = (res, status, body) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ Outputs: { res: { statusCode: status, body } }, Logs: [] }));
};

const server = http.createServer((req, res) => {
  const s = req.socket;
  s.outstanding = (s.outstanding || 0) + 1;
  s.slow = s.slow || 0;
  const name = req.url.slice(1).split("?")[0];
  if (name === "echo" && s.slow > 0) stats.fastBehindSlow++;
  if (name === "slow") stats.slowQueuedMax = Math.max(stats.slowQueuedMax, s.outstanding);
  stats.maxQueued = Math.max(stats.maxQueued, s.outstanding);
  if (name === "slow") s.slow++;
  res.on("finish", () => {
    s.outstanding--;
    if (name === "slow") s.slow--;
  });
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/") return res.end();
    const inv = JSON.parse(Buffer.concat(chunks).toString());
    const query = inv.Data.req.Query || {};
    const v = inv.Data.req.Params.v;
    switch (name) {
      case "echo":
        if (query.hang === "1") return; // never answers
        return answer(res, 200, { v });
      case "slow":
        return setTimeout(() => answer(res, 200, { v }), Number(query.ms || 200));
      case "stats": {
        const out = { ...stats, sockets };
        if (query.reset === "1") reset();
        return answer(res, 200, out);
      }
      default:
        res.writeHead(404);
        return res.end();
    }
  });
});
server.on("connection", () => sockets++);
server.listen(port, "127.0.0.1");
