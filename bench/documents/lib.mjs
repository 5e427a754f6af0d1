// What the document benchmarks share: the official client (installed for the e2e tests), the
// emulator's well-known key, a server process's CPU, a free loopback port, and waiting for a
// server to listen.
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { createRequire } from "node:module";

// The repository's root, wherever the script is run from.
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const requireE2e = createRequire(join(root, "tests", "e2e", "package.json"));
export const KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

// utime + stime of a process (or of a thread: /proc/<pid>/task/<tid>) in seconds. Fields
// counted after the ")" that ends the command name, which may itself hold spaces.
export const ticksPerSecond = 100;  // Linux USER_HZ on this platform
export function cpuSeconds(pid, statPath = `/proc/${pid}/stat`) {
  const f = readFileSync(statPath, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond;
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Until something accepts on the port, or the process exits, or the deadline passes.
export async function waitListening(port, proc, deadlineMs = 15000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const ok = await new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on ${port} after ${deadlineMs} ms`);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
