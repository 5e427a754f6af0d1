// nimbus-docs-server for end-to-end tests: start it on a free port, sign raw requests as the
// SDK does (reference cosmos.md §2), build an @azure/cosmos client for it.
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CosmosClient } from "@azure/cosmos";

export const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

function serverBinary() {
  return process.env.NIMBUS_DOCS_SERVER_BIN || join(root, "build", "release", "nimbus-docs-server");
}

// Starts nimbus-docs-server on a free port; resolves { port, cert, proc, dataDir, stderr(),
// stop(), kill9(), cleanup() } once it prints where it listens (`cert`: the certificate it
// serves https with, when it does). `dataDir`: reuse a directory (a restart after kill9());
// default a new temporary one. `extraArgs`: more command-line options.
export async function startDocsServer({ timeoutMs = 10000, dataDir, extraArgs = [] } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "nimbus-docs-e2e-"));
  const proc = spawn(serverBinary(), ["--port", "0", "--data", dir, "--log-level", "Warning", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((r) => proc.on("exit", r));
  const { port, cert } = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`docs server did not start in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)(?: and https:\/\/[^:]+:\d+ \(certificate (.+)\))?\n/);
      if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), cert: m[2] }); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`docs server exited with ${code}: ${stderr}`)); });
  });
  return {
    port,
    cert,
    proc,
    dataDir: dir,
    stderr: () => stderr,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) { proc.kill("SIGKILL"); await exited; }
    },
    async kill9() {
      proc.kill("SIGKILL");
      await exited;
    },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}

// What a rejected SDK call carried: its status code and the service's message; fails the test
// when the call succeeded.
export async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return { code: e.code, message: String(e.body?.message ?? e.message) };
  }
  throw new Error("the call succeeded; a refusal was expected");
}

// options: more CosmosClient options (plugins, connectionPolicy ...).
export function cosmosClient(port, options = {}) {
  return new CosmosClient({ endpoint: `http://127.0.0.1:${port}/`, key: EMULATOR_KEY, ...options });
}

// A signed request the SDK would not send as such (e.g. a batch it refuses client-side).
export async function signedRequest(port, method, path, { link = "", type = "", body, headers = {} } = {}) {
  const d = new Date().toUTCString();
  const text = `${method.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${d.toLowerCase()}\n\n`;
  const sig = crypto.createHmac("sha256", Buffer.from(EMULATOR_KEY, "base64")).update(text, "utf8").digest("base64");
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: encodeURIComponent(`type=master&ver=1.0&sig=${sig}`),
      "x-ms-date": d,
      "x-ms-version": "2020-07-15",
      "content-type": "application/json",
      ...headers,
    },
    body,
  });
  const t = await res.text();
  return { status: res.status, headers: res.headers, text: t, json: t ? JSON.parse(t) : undefined };
}
