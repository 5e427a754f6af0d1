// Timer trigger test handler: every timer function records its run (when, the TimerInfo it
// got, how many runs of it were active at once); "slow" takes 1.5 s, longer than its 1 s
// schedule; GET /api/events returns what was recorded since this process started.
const http = require("http");
const events = [];
const active = {};
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const name = req.url.slice(1);
      if (req.method === "GET") return res.end();
      const inv = JSON.parse(Buffer.concat(chunks).toString());
      const send = (o) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(o));
      if (name === "events")
        return send({ Outputs: { res: { statusCode: 200, body: JSON.stringify(events) } } });
      const timer = inv.Data.timer;
      active[name] = (active[name] || 0) + 1;
      const ev = { fn: name, start: Date.now(), timer, concurrent: active[name] };
      const finish = () => {
        active[name]--;
        ev.end = Date.now();
        events.push(ev);
        send({ Outputs: {}, Logs: [`${name} ran, IsPastDue=${timer.IsPastDue}`], ReturnValue: null });
      };
      if (name === "slow") setTimeout(finish, 1500);
      else finish();
    });
  })
  .listen(Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT), "127.0.0.1");
