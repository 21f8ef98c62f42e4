import { execFileSync, spawn, type ChildProcess } from "child_process";
import { createInterface } from "readline";

/** Runs a command and returns its stdout; throws with the command line and stderr on failure. */
export function run(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; status?: number };
    throw new Error(`${cmd} ${args.join(" ")} exited ${e.status ?? "?"}: ${(e.stderr ?? String(error)).trim()}`);
  }
}

/** Runs a command inside a network namespace. */
export function inNs(ns: string, cmd: string, args: readonly string[], input?: string): string {
  return run("ip", ["netns", "exec", ns, cmd, ...args], input);
}

/** `ip -n NS ...` for each line of a batch (one `ip -batch` call per namespace keeps setup fast). */
export function ipBatch(ns: string, lines: readonly string[]): void {
  if (lines.length > 0) run("ip", ["-n", ns, "-batch", "-"], lines.join("\n") + "\n");
}

export function sysctl(ns: string, settings: Record<string, string | number>): void {
  inNs(ns, "sysctl", ["-q", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A long-running process in a namespace that answers one JSON line per command line
 * (the Go stand-ins). Every process started here is recorded so clean-up can end it by pid.
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
