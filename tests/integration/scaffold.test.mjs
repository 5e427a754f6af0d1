// `nimbus init` and `nimbus new` as a new user runs them: each scaffolded app starts as
// written and answers its hello function; a native one builds with CMake against this build
// tree (find_package(Nimbus)); `nimbus start --functions` runs a subset and refuses unknown names.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { BIN, keys, request, runNimbus, startNimbus, stopNimbus, tempDir, waitForLog } from "./lib/nimbus.mjs";

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const hosts = [];
const made = []; // temp folders of apps, builds and the install prefix (a copy of nimbus)
after(async () => {
  await Promise.all(hosts.map(stopNimbus));
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
const scratch = (prefix) => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};
async function start(app, args) {
  const host = await startNimbus(app, args);
  hosts.push(host);
  return host;
}

function init(worker) {
  const dir = path.join(scratch("nimbus-init-"), `${worker}-app`);
  const r = runNimbus(["init", dir, "--worker", worker]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, out: r.stdout };
}

async function saysHello(host) {
  const r = await request(host.port, "GET", "/api/hello/ada");
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, "Hello, ada!");
}

for (const worker of ["node", "python"]) {
  test(`init --worker ${worker}: the app starts and hello answers`, async () => {
    const { dir } = init(worker);
    for (const f of ["host.json", "local.settings.json", "hello/function.json", worker === "node" ? "handler.js" : "handler.py"])
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    const host = await start(dir);
    await saysHello(host);
    await stopNimbus(host);
  });
}

test("init refuses a folder that is not empty, naming it", () => {
  const dir = scratch("nimbus-init-full-");
  fs.writeFileSync(path.join(dir, "keep.txt"), "mine");
  const r = runNimbus(["init", dir, "--worker", "node"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${esc(dir)}: is not empty`));
  assert.deepEqual(fs.readdirSync(dir), ["keep.txt"]);
  const bad = runNimbus(["init", path.join(dir, "x"), "--worker", "java"]);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--worker java: not a worker; use native, node or python/);
});

test("init --worker native: a missing library is named at start; CMake builds it; hello answers", async () => {
  const { dir, out } = init("native");
  const sdkDir = path.dirname(BIN); // the build tree's NimbusConfig.cmake
  assert.match(out, new RegExp(`-DNimbus_DIR=${esc(sdkDir)}`));
  assert.match(fs.readFileSync(path.join(dir, "README.md"), "utf8"), /c\+\+ -std=c\+\+20 .*-I \S+\/include hello\.cc -o bin\/libapp\.so/);

  const early = runNimbus(["start", dir, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", tempDir()]);
  assert.equal(early.code, 2);
  assert.match(early.stderr, /nimbus\.native\.library: "bin\/libapp\.so" does not exist \(.*native-app\/bin\/libapp\.so\); build the app first/);

  for (const args of [["-S", dir, "-B", path.join(dir, "build"), `-DNimbus_DIR=${sdkDir}`], ["--build", path.join(dir, "build")]]) {
    const r = spawnSync("cmake", args, { encoding: "utf8", timeout: 60000 });
    assert.equal(r.status, 0, `cmake ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  }
  assert.ok(fs.existsSync(path.join(dir, "bin/libapp.so")));
  const host = await start(dir);
  await saysHello(host);
  await stopNimbus(host);

  // The README's one compiler command builds the same library.
  fs.rmSync(path.join(dir, "bin"), { recursive: true });
  const oneLine = fs.readFileSync(path.join(dir, "README.md"), "utf8").match(/^mkdir -p bin && c\+\+ .*$/m)[0];
  const cc = spawnSync("sh", ["-c", oneLine], { cwd: dir, encoding: "utf8", timeout: 60000 });
  assert.equal(cc.status, 0, `${oneLine}\n${cc.stderr}`);
  const again = await start(dir);
  await saysHello(again);
  await stopNimbus(again);

  // new in a native app writes nothing and prints the code to paste.
  const n = runNimbus(["new", "orders", "--template", "queue", dir]);
  assert.equal(n.code, 0, n.stderr);
  assert.match(n.stdout, /app\.queue\("orders", \{\.queue = "orders"\}/);
  assert.ok(!fs.existsSync(path.join(dir, "orders")));
});

test("cmake --install: the prefix's nimbus scaffolds an app that builds against the installed package", async () => {
  const prefix = path.join(scratch("nimbus-prefix-"), "p");
  const inst = spawnSync("cmake", ["--install", path.dirname(BIN), "--prefix", prefix], { encoding: "utf8", timeout: 60000 });
  assert.equal(inst.status, 0, inst.stdout + inst.stderr);
  for (const f of ["include/nimbus/nimbus.h", "include/nimbus/durable.h", "lib/cmake/Nimbus/NimbusConfig.cmake", "bin/nimbus", "bin/nimbus-worker"])
    assert.ok(fs.existsSync(path.join(prefix, f)), f);
  const dir = path.join(scratch("nimbus-init-"), "installed-app");
  const r = spawnSync(path.join(prefix, "bin/nimbus"), ["init", dir, "--worker", "native"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const cmakeDir = path.join(prefix, "lib/cmake/Nimbus");
  assert.match(r.stdout, new RegExp(`-DNimbus_DIR=${esc(cmakeDir)}`));
  for (const args of [["-S", dir, "-B", path.join(dir, "build"), `-DNimbus_DIR=${cmakeDir}`], ["--build", path.join(dir, "build")]]) {
    const b = spawnSync("cmake", args, { encoding: "utf8", timeout: 60000 });
    assert.equal(b.status, 0, `cmake ${args.join(" ")}\n${b.stdout}\n${b.stderr}`);
  }
  const host = await start(dir);
  await saysHello(host);
  await stopNimbus(host);
});

test("new --template queue and http in a node app: listed at start, and the printed code runs", async () => {
  const { dir } = init("node");
  const n = runNimbus(["new", "orders", "--template", "queue", "--queue", "orders-in", dir]);
  assert.equal(n.code, 0, n.stderr);
  const fn = JSON.parse(fs.readFileSync(path.join(dir, "orders/function.json"), "utf8"));
  assert.deepEqual(fn.bindings[0], { type: "queueTrigger", direction: "in", name: "message", queueName: "orders-in" });
  // The snippet goes where the output says: into handler.js's `functions` object.
  const snippet = n.stdout.split("\n\n")[1].split("\nPut a message")[0];
  assert.match(snippet, /orders\(invocation\)/);
  const handler = path.join(dir, "handler.js");
  fs.writeFileSync(handler, fs.readFileSync(handler, "utf8").replace("const functions = {\n", `const functions = {\n${snippet}\n`));
  assert.equal(runNimbus(["new", "orders", "--template", "http", dir]).code, 1); // exists
  const again = runNimbus(["new", "Orders", "--template", "http", dir]);
  assert.match(again.stderr, /exists/);
  const web = runNimbus(["new", "web", "--template", "http", dir]);
  assert.equal(web.code, 0, web.stderr);
  const webSnippet = web.stdout.split("\n\n")[1];
  fs.writeFileSync(handler, fs.readFileSync(handler, "utf8").replace("const functions = {\n", `const functions = {\n${webSnippet}\n`));

  const host = await start(dir);
  await waitForLog(host, /"function":"orders"[^\n]*"queue":"orders-in"|"queue":"orders-in"[^\n]*"function":"orders"/);
  await saysHello(host);
  // A new HTTP function needs a function key (authLevel function, Azure's default).
  assert.equal((await request(host.port, "GET", "/api/web")).status, 401);
  const w = await request(host.port, "GET", "/api/web", { headers: { "x-functions-key": keys(host).functionKeys.default } });
  assert.equal(w.status, 200, w.body);
  assert.equal(w.body, "web ran");
  const put = runNimbus(["queue", "put", "orders-in", "first order", "--base64",
    "--endpoint", `http://127.0.0.1:${host.queuePort}/devstoreaccount1`]);
  assert.equal(put.code, 0, put.stderr);
  await waitForLog(host, /orders: message [^:]+: first order/, 15000);

  // --functions: only the named ones run; the others are named in the log.
  await stopNimbus(host);
  const subset = await start(dir, ["--functions", "HELLO"]);
  await saysHello(subset);
  assert.match(subset.logs, /--functions: not running orders, web/);
  assert.equal((await request(subset.port, "GET", "/api/web")).status, 404);
  assert.doesNotMatch(subset.logs, /"queue":"orders-in"/);
  await stopNimbus(subset);

  const unknown = runNimbus(["start", dir, "--port", "0", "--queue-port", "0", "--docs-port", "0",
    "--data", tempDir(), "--functions", "hello", "nope,missing"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--functions: no function named nope, missing in \S+ \(its functions: hello, orders, web\)/);

  // host.json "functions" does the same; --functions overrides it; a bad list is refused.
  const hostFile = path.join(dir, "host.json");
  const original = fs.readFileSync(hostFile, "utf8");
  fs.writeFileSync(hostFile, JSON.stringify({ ...JSON.parse(original), functions: ["web"] }));
  const listed = await start(dir);
  assert.match(listed.logs, /host.json: functions: not running hello, orders/);
  assert.equal((await request(listed.port, "GET", "/api/hello/ada")).status, 404);
  await stopNimbus(listed);
  const overridden = await start(dir, ["--functions", "hello"]);
  await saysHello(overridden);
  await stopNimbus(overridden);
  fs.writeFileSync(hostFile, JSON.stringify({ ...JSON.parse(original), functions: "web" }));
  const bad = runNimbus(["start", dir, "--port", "0", "--queue-port", "0", "--docs-port", "0", "--data", tempDir()]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /host.json: functions: must be an array of function names/);
  fs.writeFileSync(hostFile, original);
});
