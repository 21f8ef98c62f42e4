/**
 * What the bench needs from the machine: running programs (also inside network namespaces), timing them, and a
 * clean-up list that removes every namespace, process and directory the bench made, on success, failure or signal.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** Every namespace the bench makes is named `bnch-<pid>-<role>`, so leftovers of a killed run are recognisable. */
export const NETNS_PREFIX = "bnch";

/** The Debian package of each program the bench runs, for the message when one is missing. */
const PACKAGES: Record<string, string> = {
  ip: "iproute2",
  nft: "nftables",
  conntrack: "conntrack",
  jq: "jq",
  bash: "bash",
  flock: "util-linux",
  time: "time (/usr/bin/time)",
};

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function toolPath(name: string): string | undefined {
  const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" });
  const path = found.stdout?.trim() ?? "";
  return found.status === 0 && path !== "" ? path : undefined;
}

export function requireTool(name: string): string {
  const path = toolPath(name === "time" ? "/usr/bin/time" : name);
  if (path === undefined) throw new Error(`'${name}' is not installed: install the Debian package '${PACKAGES[name] ?? name}'`);
  return path;
}

/** Runs a program; never throws on a non-zero exit (see runOk). */
export function run(cmd: string, args: readonly string[], input?: string | Buffer, env?: NodeJS.ProcessEnv): RunResult {
  const result = spawnSync(cmd, args, { encoding: "utf8", input, env: env ?? process.env, maxBuffer: 256 << 20, timeout: 600_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a program and returns its stdout; throws with the command line and stderr when it fails. */
export function runOk(cmd: string, args: readonly string[], input?: string | Buffer, env?: NodeJS.ProcessEnv): string {
  const result = run(cmd, args, input, env);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${result.status}: ${(result.stderr + result.stdout).trim().slice(0, 2000)}`);
  return result.stdout;
}

export function inNs(ns: string, cmd: string, args: readonly string[], input?: string): string {
  return runOk("ip", ["netns", "exec", ns, cmd, ...args], input);
}

export function ipBatch(ns: string, lines: readonly string[]): void {
  runOk("ip", ["-n", ns, "-batch", "-"], `${lines.join("\n")}\n`);
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Wall time and peak resident memory of one program run (GNU time's %M: the largest resident set of the program
 * and of every descendant it waited for). The wall time is measured here, around the whole run.
 */
export function timed(cmd: string, args: readonly string[], options: { stdinFile?: string; env?: NodeJS.ProcessEnv; ns?: string } = {}): { ms: number; peakMb: number; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), `iot-bench-${process.pid}-time-`));
  try {
    const memFile = join(dir, "mem");
    const argv = ["-f", "%M", "-o", memFile, cmd, ...args];
    const full = options.ns === undefined ? { cmd: "/usr/bin/time", args: argv } : { cmd: "ip", args: ["netns", "exec", options.ns, "/usr/bin/time", ...argv] };
    const stdin = options.stdinFile === undefined ? "ignore" : openSync(options.stdinFile, "r");
    const start = nowMs();
    const result = spawnSync(full.cmd, full.args, { encoding: "utf8", stdio: [stdin, "pipe", "pipe"], env: options.env ?? process.env, maxBuffer: 256 << 20, timeout: 600_000 });
    const ms = nowMs() - start;
    if (typeof stdin === "number") closeSync(stdin);
    if (result.error !== undefined) throw result.error;
    if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${result.status}: ${(result.stderr ?? "").trim().slice(0, 2000)}`);
    const kb = Number(readFileSync(memFile, "utf8").trim().split("\n").pop());
    return { ms, peakMb: kb / 1024, stdout: result.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/*
 * Clean-up. Each namespace also gets a detached watchdog shell that deletes it once this process is gone, however
 * it ends (SIGKILL included), and that stops by itself when the namespace is deleted first.
 */
const WATCHDOG = 'while kill -0 "$1" 2>/dev/null && [ -e "/run/netns/$2" ]; do sleep 1; done; ip netns delete "$2" 2>/dev/null; exit 0';

export class Cleanup {
  private readonly namespaces: string[] = [];
  private readonly dirs: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private done = false;

  /** A namespace `bnch-<pid>-<role>` with its loopback up, deleted at clean-up. */
  netns(role: string): string {
    const name = `${NETNS_PREFIX}-${process.pid}-${role}`;
    runOk("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    spawn("sh", ["-c", WATCHDOG, "sh", String(process.pid), name], { detached: true, stdio: "ignore" }).unref();
    runOk("ip", ["-n", name, "link", "set", "lo", "up"]);
    return name;
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `iot-bench-${process.pid}-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** A child process ended (by its own pid) at clean-up. */
  track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /**
   * What earlier bench runs left when they were killed outright: namespaces their watchdogs have not removed yet, and
   * temporary directories (named after the run's pid, removed only when that process is gone).
   */
  static removeLeftovers(): void {
    const gone = (pid: number) => {
      if (pid === process.pid) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    for (const line of run("ip", ["netns", "list"]).stdout.split("\n")) {
      const name = line.split(" ")[0];
      const match = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
      if (match !== null && gone(Number(match[1]))) run("ip", ["netns", "delete", name]);
    }
    for (const entry of readdirSync(tmpdir())) {
      const match = /^iot-bench-(\d+)-/.exec(entry);
      if (match !== null && gone(Number(match[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
  }

  /** Ends this run's processes, deletes its namespaces and directories; safe to call twice. */
  run(): void {
    if (this.done) return;
    this.done = true;
    for (const child of this.children) {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          /* exited meanwhile */
        }
      }
    }
    for (const name of this.namespaces.reverse()) spawnSync("ip", ["netns", "delete", name], { stdio: "ignore" });
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A long-running program that answers each command line with one JSON line (the Go sender). It is started through
 * `ip netns exec`, which execs the program, so the child's pid is the program's.
 */
export class LineProcess {
  private readonly child: ChildProcess;
  private readonly waiting: Array<(line: string) => void> = [];
  private stderr = "";
  private exited: string | undefined;

  constructor(
    readonly label: string,
    cleanup: Cleanup,
    ns: string,
    cmd: string,
    args: readonly string[],
  ) {
    this.child = cleanup.track(spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["pipe", "pipe", "pipe"] }));
    createInterface({ input: this.child.stdout! }).on("line", (line) => this.waiting.shift()?.(line));
    this.child.stderr!.on("data", (data: Buffer) => {
      this.stderr = (this.stderr + data.toString()).slice(-4000);
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `${label} exited (${code ?? signal}): ${this.stderr.trim()}`;
      for (const waiter of this.waiting.splice(0)) waiter(JSON.stringify({ error: this.exited }));
    });
  }

  async call<T>(command: string, timeoutMs = 120_000): Promise<T> {
    if (this.exited !== undefined) throw new Error(this.exited);
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no answer to "${command}" in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.child.stdin!.write(`${command}\n`);
    });
    const parsed = JSON.parse(line) as T & { error?: string };
    if (typeof parsed.error === "string") throw new Error(`${this.label}: ${parsed.error}`);
    return parsed;
  }

  stop(): void {
    this.child.stdin?.end();
    if (this.exited === undefined && this.child.pid !== undefined) this.child.kill("SIGTERM");
  }
}
