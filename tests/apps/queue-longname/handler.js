// A custom handler that is never invoked: the host must refuse the app's queue trigger first.
require("http")
  .createServer((req, res) => res.writeHead(req.method === "GET" ? 200 : 500).end())
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
