// Producer -> queue -> function -> queue, as a custom handler on Node's http module.
// POST /api/orders puts the body on "orders" (queue output binding); "process" is triggered
// by each order and writes a confirmation to "orders-done". An order whose body contains
// "poison" always fails, so after maxDequeueCount attempts it lands in "orders-poison".
const http = require("http");

const functions = {
  enqueue(inv) {
    const order = inv.Data.req.Body;
    return {
      Outputs: { order, res: { statusCode: 202, body: JSON.stringify({ accepted: order }) } },
      Logs: [`accepted order ${order}`],
    };
  },
  process(inv) {
    const order = inv.Data.order;
    if (order.includes("poison")) throw new Error(`cannot process order ${order}`);
    return {
      Outputs: { done: JSON.stringify({ order, attempt: inv.Metadata.DequeueCount }) },
      Logs: [`processed order ${order} (message ${inv.Metadata.Id})`],
    };
  },
};

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const fn = functions[req.url.slice(1)];
      if (req.method !== "POST" || !fn) return res.writeHead(req.url === "/" ? 200 : 404).end();
      try {
        const out = fn(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
      } catch (e) {
        // Non-2xx fails the invocation: the message is retried, then poisoned.
        res.writeHead(500, { "Content-Type": "application/json" })
          .end(JSON.stringify({ Logs: [String(e.message)] }));
      }
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
