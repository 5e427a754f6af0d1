// The Restate peer of examples/durable-fanout (bench/durable/README.md): a Node service
// deployment with
//   Square.run(k)                 -> k*k                     (the activity)
//   FanOut.run({n})  (workflow)   -> {sum: Σ k², k = 1..n}   (calls Square n times in parallel,
//                                   RestatePromise.all, one durable call each)
// FanOut is a Restate *workflow* (keyed, runs once per id, its result kept for
// default-workflow-completion-retention), the closest match to a Durable Functions orchestration
// instance started with an instance id. Served over HTTP/2 on 127.0.0.1.
//   node bench/durable/restate_service.mjs PORT
import http2 from "node:http2";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The SDK (1.17) calls Promise.withResolvers (ES2024, Node >= 22); this machine's Node is 20.
// The standard semantics, defined only where missing:
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "peers", "package.json"));
const restate = await import(require.resolve("@restatedev/restate-sdk"));
const { RestatePromise } = restate;

const port = Number(process.argv[2] || 9080);

const square = restate.service({
  name: "Square",
  handlers: {
    run: async (_ctx, k) => k * k,
  },
});

const fanOut = restate.workflow({
  name: "FanOut",
  handlers: {
    run: async (ctx, input) => {
      const n = Number(input?.n ?? 10);
      const calls = [];
      for (let k = 1; k <= n; k++) {
        calls.push(ctx.genericCall({
          service: "Square", method: "run", parameter: k,
          inputSerde: restate.serde.json, outputSerde: restate.serde.json,
        }));
      }
      const squares = await RestatePromise.all(calls);
      return { sum: squares.reduce((a, b) => a + b, 0) };
    },
  },
});

const server = http2.createServer(restate.createEndpointHandler({ services: [square, fanOut] }));
server.listen(port, "127.0.0.1", () => console.log(`restate service deployment on 127.0.0.1:${port}`));
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => { server.close(); process.exit(0); });
