// Start-up hook for Azurite's queue suite: starts nimbus-queue-server instead of Azurite
// (tools/azurite-queue-suite/run.sh puts it in place). Written here; not Azurite code.
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const BIN = process.env.NIMBUS_QUEUE_SERVER || "nimbus-queue-server";

class NimbusQueueServer {
  public config: any;
  private proc?: ChildProcess;
  private dir: string;
  constructor(private https: boolean) {
    this.config = { host: "127.0.0.1", port: 11001 };
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "nqs-"));
  }
  public async start() {
    const args = ["--port", "11001", "--data", this.dir, "--sync", "normal", "--log-level", "Warning"];
    if (this.https) args.push("--cert", "tests/server.cert", "--key", "tests/server.key");
    this.proc = spawn(BIN, args, { stdio: ["ignore", "ignore", "inherit"] });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const ok = await new Promise<boolean>((res) => {
        const s = net.connect(11001, "127.0.0.1", () => { s.destroy(); res(true); });
        s.on("error", () => res(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("nimbus-queue-server did not start");
  }
  public async close() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = undefined;
    await new Promise<void>((res) => { p.on("exit", () => res()); p.kill("SIGTERM"); });
  }
  public async clean() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

export default class QueueTestServerFactory {
  public createServer(params: any): any {
    return new NimbusQueueServer(!!params.https);
  }
}
