// Queue-trigger benchmark handler: "drain" does nothing but stamp the time; "latency" returns how
// long after the producer began its put this handler started (microseconds, wall clock).
// Stamps: when NIMBUS_BENCH_STAMPS names a file, the earliest "drain" start, the latest end (wall
// clock µs) and the count are written to it as three little-endian uint64s, at most every 20 ms
// while they change (one handler process, so in-memory counters are exact).
const http = require("http");
const fs = require("fs");
const { performance } = require("perf_hooks");
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const stampsFile = process.env.NIMBUS_BENCH_STAMPS;
let first = 0, last = 0, count = 0, written = 0;
if (stampsFile) {
  setInterval(() => {
    if (count === written) return;
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(BigInt(first), 0);
    b.writeBigUInt64LE(BigInt(last), 8);
    b.writeBigUInt64LE(BigInt(count), 16);
    fs.writeFileSync(stampsFile, b);
    written = count;
  }, 20).unref();
}
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const started = nowUs();
      if (req.method === "GET") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString());
      const out = req.url === "/latency" ? { ReturnValue: String(started - Number(inv.Data.msg)) } : {};
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(out));
      if (req.url === "/drain") {
        if (!first) first = started;
        last = nowUs();
        count++;
      }
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
