/** Timing program runs: wall time around the run and peak resident memory by GNU time (/usr/bin/time). */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolPath } from "./commands";

const GNU_TIME = "/usr/bin/time";

/** Milliseconds on a monotonic clock. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Fails (never skips) when GNU time is missing, naming its Debian package; returns its path. */
export function requireGnuTime(): string {
  if (toolPath(GNU_TIME) === undefined) throw new Error(`'${GNU_TIME}' is not installed: install the Debian package 'time'`);
  return GNU_TIME;
}

export interface TimedOptions {
  /** The program's stdin (default: none). */
  readonly stdinFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run inside this network namespace (`ip netns exec`). */
  readonly ns?: string;
  /** Milliseconds; default 600 s. */
  readonly timeoutMs?: number;
}

export interface TimedResult {
  readonly ms: number;
  /** GNU time's %M: the largest resident set of the program and of every descendant it waited for, in MB (2^20 bytes). */
  readonly peakMb: number;
  readonly stdout: string;
}

/**
 * Wall time and peak resident memory of one program run that must succeed (throws with its stderr otherwise). The wall
 * time is measured here, around the whole run.
 */
export function timed(cmd: string, args: readonly string[], options: TimedOptions = {}): TimedResult {
  const dir = mkdtempSync(join(tmpdir(), `iot-timed-${process.pid}-`));
  try {
    const memFile = join(dir, "mem");
    const argv = ["-f", "%M", "-o", memFile, cmd, ...args];
    const full = options.ns === undefined ? { cmd: GNU_TIME, args: argv } : { cmd: "ip", args: ["netns", "exec", options.ns, GNU_TIME, ...argv] };
    const stdin = options.stdinFile === undefined ? "ignore" : openSync(options.stdinFile, "r");
    const start = nowMs();
    const result = spawnSync(full.cmd, full.args, { encoding: "utf8", stdio: [stdin, "pipe", "pipe"], env: options.env ?? process.env, maxBuffer: 256 << 20, timeout: options.timeoutMs ?? 600_000 });
    const ms = nowMs() - start;
    if (typeof stdin === "number") closeSync(stdin);
    if (result.error !== undefined) throw result.error;
    if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${result.status ?? "?"}: ${(result.stderr ?? "").trim().slice(0, 2000)}`);
    const kb = Number(readFileSync(memFile, "utf8").trim().split("\n").pop());
    return { ms, peakMb: kb / 1024, stdout: result.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
