// The fan-out of examples/durable-fanout with its activity in Node: the orchestrator FanOut is
// C++ (orchestrator.cc, a coroutine replayed by the native SDK); the activity Square and the
// HTTP starter Start run in this custom handler, on Node's http module alone.
const http = require("http");

// Starts an orchestration through the management API URLs the durableClient binding gives.
function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const functions = {
  // activityTrigger: Data.k is the input (a JSON value); ReturnValue is the result.
  async Square(inv) {
    const k = Number(inv.Data.k);
    return { ReturnValue: k * k, Logs: [`squared ${k}`] };
  },
  // durableClient: Data.client holds the creation and management URLs (with the key).
  async Start(inv) {
    const client = inv.Data.client;
    const url = client.creationUrls.createNewInstancePostUri
      .replace("{functionName}", "FanOut")
      .replace("[/{instanceId}]", "");
    const started = await post(url, JSON.stringify({ n: Number(inv.Data.req.Params.n) }));
    return { Outputs: { res: { statusCode: started.status, body: started.body,
                               headers: { "Content-Type": "application/json" } } } };
  },
};

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const fn = functions[req.url.slice(1)];
      if (req.method !== "POST" || !fn) return res.writeHead(req.url === "/" ? 200 : 404).end();
      try {
        const out = await fn(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
      } catch (e) {
        res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ Logs: [String(e.message)] }));
      }
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
