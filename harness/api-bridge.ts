/**
 * A path from inside a network namespace to an API server listening on the host's loopback.
 *
 * The API server listens on the host's 127.0.0.1 only; a network namespace has its own loopback. This bridge makes
 * https://127.0.0.1:<port> inside the namespace reach the API server: a process in the namespace accepts on its
 * loopback and forwards through a Unix socket (filesystem sockets are not per namespace) to a process on the host that
 * connects to the real port. TLS stays end to end (the serving certificate names 127.0.0.1).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const BRIDGE_JS = `"use strict";
const net = require("net");
const [mode, socketPath, port] = process.argv.slice(2);
const pipe = (a, b) => { a.pipe(b); b.pipe(a); a.on("error", () => b.destroy()); b.on("error", () => a.destroy()); a.on("close", () => b.destroy()); b.on("close", () => a.destroy()); };
if (mode === "host") {
  try { require("fs").unlinkSync(socketPath); } catch {}
  net.createServer((c) => pipe(c, net.connect(Number(port), "127.0.0.1"))).listen(socketPath, () => process.stdout.write("ready\\n"));
} else {
  net.createServer((c) => pipe(c, net.connect(socketPath))).listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\\n"));
}
`;

export interface ApiBridge {
  stop(): void;
}

function startReady(command: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"], detached: true });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${command} ${args.join(" ")} exited ${code}`)));
    child.stdout?.once("data", () => resolve(child));
  });
}

/** Bridges the API server at `server` (https://127.0.0.1:<port>) into `netns`, with its files in `work`. */
export async function bridgeApiIntoNetns(netns: string, work: string, server: string): Promise<ApiBridge> {
  const port = new URL(server).port;
  const script = path.join(work, "api-bridge.js");
  const socketPath = path.join(work, "api.sock");
  fs.writeFileSync(script, BRIDGE_JS);
  const host = await startReady(process.execPath, [script, "host", socketPath, port]);
  const inside = await startReady("ip", ["netns", "exec", netns, process.execPath, script, "netns", socketPath, port]);
  return {
    stop() {
      for (const child of [inside, host]) {
        child.removeAllListeners("exit");
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, "SIGTERM");
          } catch {
            /* gone */
          }
        }
      }
    },
  };
}
