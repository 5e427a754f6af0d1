// Starts and stops nimbus-queue-server for tests and benchmarks: a fresh data directory, a
// free port chosen by the server (--port 0), bounded waits everywhere.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function serverBinary() {
  return process.env.NIMBUS_QUEUE_SERVER_BIN || join(root, "build", "release", "nimbus-queue-server");
}

export function connectionString(port, account = DEV_ACCOUNT, key = DEV_KEY) {
  return `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};` +
    `QueueEndpoint=http://127.0.0.1:${port}/${account};`;
}

// Starts the server; resolves { port, proc, dataDir, cert, stop(), kill9() } once it listens.
// `tls: true` serves https on the same port too; `cert` is then the generated certificate's
// path (trust it with an https.Agent's `ca` or NODE_EXTRA_CA_CERTS).
export async function startQueueServer({ dataDir, extraArgs = [], timeoutMs = 10000, tls = false } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), "nimbus-queue-e2e-"));
  const args = ["--port", "0", "--data", dir, "--log-level", "Warning", ...(tls ? ["--tls"] : []), ...extraArgs];
  const proc = spawn(serverBinary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`queue server did not start in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`queue server exited with ${code}: ${stderr}`)); });
  });
  const exited = new Promise((r) => proc.on("exit", r));
  return {
    port, proc, dataDir: dir, cert: tls ? join(dir, "tls", "cert.pem") : undefined,
    stderr: () => stderr,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) { proc.kill("SIGKILL"); await exited; }
    },
    async kill9() { proc.kill("SIGKILL"); await exited; },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}
