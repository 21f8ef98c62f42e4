/** Long-running programs in network namespaces: line-protocol processes and wireguard-go interfaces. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { sleep } from "./commands";

/**
 * A long-running process in a namespace that answers one JSON line per command line (the lab's Go stand-ins).
 * `onStart` gets its pid at once, so that a caller's clean-up can end it by pid.
 */
export class LineProcess {
  private readonly child: ChildProcess;
  private readonly waiting: Array<(line: string) => void> = [];
  private stderr = "";
  private exited: string | undefined;

  constructor(
    readonly label: string,
    ns: string,
    cmd: string,
    args: readonly string[],
    onStart: (pid: number) => void,
  ) {
    this.child = spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    if (this.child.pid !== undefined) onStart(this.child.pid);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      // Answers come in command order; a line nobody waits for is a stand-in bug worth seeing.
      const w = this.waiting.shift();
      if (w) w(line);
      else process.stderr.write(`${label}: unexpected output ${line}\n`);
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `${label} exited (${code ?? signal}): ${this.stderr.trim()}`;
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: this.exited }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one command and resolves with its parsed JSON answer; rejects on an error answer or timeout. */
  async call<T>(command: string, timeoutMs = 600_000): Promise<T> {
    if (this.exited) throw new Error(this.exited);
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no answer to "${command}" in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.child.stdin!.write(command + "\n");
    });
    const parsed = JSON.parse(line) as T & { error?: string };
    if (typeof parsed.error === "string") throw new Error(`${this.label}: ${parsed.error}`);
    return parsed;
  }

  stop(): void {
    if (this.exited === undefined && this.child.pid !== undefined) {
      this.child.stdin!.end();
      this.child.kill("SIGTERM");
    }
  }
}

/** Where wireguard-go puts an interface's control socket (wg talks to it there). */
export function wireguardGoSocket(ifname: string): string {
  return `/var/run/wireguard/${ifname}.sock`;
}

/**
 * Starts wireguard-go in the foreground inside a namespace (detached from this process) and waits for its control
 * socket; returns its pid. `onStart` gets the pid as soon as it exists, before the wait.
 */
export async function startWireguardGo(ns: string, ifname: string, onStart?: (pid: number) => void): Promise<number> {
  if (ifname.length > 15) throw new Error(`interface name too long: ${ifname}`);
  const sock = wireguardGoSocket(ifname);
  rmSync(sock, { force: true });
  const child = spawn("ip", ["netns", "exec", ns, "wireguard-go", "-f", ifname], { stdio: "ignore", detached: true });
  child.unref();
  if (child.pid === undefined) throw new Error(`wireguard-go ${ifname} did not start`);
  onStart?.(child.pid);
  for (let i = 0; i < 100; i++) {
    if (existsSync(sock)) return child.pid;
    await sleep(50);
  }
  throw new Error(`wireguard-go ${ifname} in ${ns}: no control socket ${sock} after 5 s (is /dev/net/tun available?)`);
}

/** Ends a wireguard-go started by startWireguardGo and removes its socket; never throws. */
export function stopWireguardGo(pid: number | undefined, ifname: string): void {
  if (pid !== undefined) {
    try {
      process.kill(pid);
    } catch {
      /* already gone */
    }
  }
  rmSync(wireguardGoSocket(ifname), { force: true });
}
