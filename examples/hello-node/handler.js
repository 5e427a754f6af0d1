// A custom handler written from the Azure Functions docs, on Node's http module alone.
// The host starts it with FUNCTIONS_CUSTOMHANDLER_PORT and POSTs /<FunctionName> with
// {Data, Metadata}; the answer is {Outputs, Logs, ReturnValue}.
const http = require("http");

const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT || 3000);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const functions = {
  // Outputs.res carries the HTTP response.
  hello(invocation) {
    const req = invocation.Data.req;
    const name = req.Params.name || req.Query.name || "world";
    return {
      Outputs: {
        res: {
          statusCode: 200,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ hello: name, from: "node" }),
        },
      },
      Logs: [`greeting ${name}`],
      ReturnValue: null,
    };
  },
  // "$return": the HTTP response is the ReturnValue.
  echo(invocation) {
    const req = invocation.Data.req;
    return {
      Outputs: {},
      Logs: [],
      ReturnValue: { statusCode: 200, body: req.Body, headers: { "Content-Type": "text/plain" } },
    };
  },
};

http
  .createServer(async (req, res) => {
    const name = req.url.replace(/^\//, "").split("?")[0];
    const body = await readBody(req);
    const fn = functions[name];
    if (req.method !== "POST" || !fn) {
      res.writeHead(req.url === "/" ? 200 : 404).end();
      return;
    }
    const result = fn(JSON.parse(body));
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(result));
  })
  .listen(port, "127.0.0.1");
