/**
 * Running the machine's own programs, for the system tests and the lab alike. A missing program is an error that
 * names the Debian package to install, never a reason to skip.
 */
import { spawnSync } from "node:child_process";

/** The Debian package that provides each program the system tests and the lab run. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  bash: "bash",
  curl: "curl",
  sha256sum: "coreutils",
  flock: "util-linux",
  setsid: "util-linux",
  pkill: "procps",
  wg: "wireguard-tools",
  "wg-quick": "wireguard-tools",
  "wireguard-go": "wireguard-go",
  nft: "nftables",
  jq: "jq",
  shellcheck: "shellcheck",
  "systemd-analyze": "systemd",
  "cloud-init": "cloud-init",
  ip: "iproute2",
  conntrack: "conntrack",
  python3: "python3",
  promtool: "prometheus",
  prometheus: "prometheus",
  "prometheus-node-exporter": "prometheus-node-exporter",
};

/** The program's path on PATH, or undefined. */
export function toolPath(name: string): string | undefined {
  const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" });
  const path = found.stdout?.trim() ?? "";
  return found.status === 0 && path !== "" ? path : undefined;
}

/** What to tell a user who lacks `name`. */
export function missingToolMessage(name: string): string {
  return `'${name}' is not installed (or not on PATH): install the Debian package '${DEBIAN_PACKAGES[name] ?? name}'`;
}

/** Fails (never skips) when a program is missing, naming the package to install; returns its path. */
export function requireTool(name: string): string {
  const path = toolPath(name);
  if (path === undefined) throw new Error(missingToolMessage(name));
  return path;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Milliseconds; 0: no limit. */
  readonly timeoutMs?: number;
  /** "ignore": the command's stdout is discarded (the result's stdout is then ""). */
  readonly stdout?: "pipe" | "ignore";
  /** "inherit": the command's stderr goes to this process's (progress of a long build); the result's stderr is then "". */
  readonly stderr?: "pipe" | "inherit";
}

const MAX_BUFFER = 64 << 20;

function spawnChecked(command: string, args: readonly string[], input: string | undefined, options: RunOptions, defaultTimeoutMs: number): RunResult {
  const result = spawnSync(command, args, {
    encoding: "utf8",
    input,
    env: options.env ?? process.env,
    cwd: options.cwd,
    timeout: options.timeoutMs ?? defaultTimeoutMs,
    maxBuffer: MAX_BUFFER,
    stdio: ["pipe", options.stdout ?? "pipe", options.stderr ?? "pipe"],
  });
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !command.includes("/")) throw new Error(missingToolMessage(command));
    // A program that exits before it has read all its input (jq refusing a program it cannot compile) leaves the write
    // of that input with EPIPE; it did run, and its status and output are what the caller asked for.
    if (!(code === "EPIPE" && result.status !== null)) throw result.error;
  }
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

/**
 * Runs a command and returns its exit status and output, whatever the status: for checks that assert on both. The
 * command gets 20 s unless `options.timeoutMs` says otherwise (a hung check must not hang the test run).
 */
export function run(command: string, args: readonly string[], input?: string, options: RunOptions = {}): RunResult {
  return spawnChecked(command, args, input, options, 20_000);
}

/** Runs a command that must succeed and returns its stdout; throws with the command line and stderr otherwise. No time limit unless given. */
export function runOk(command: string, args: readonly string[], input?: string, options: RunOptions = {}): string {
  const result = spawnChecked(command, args, input, options, 0);
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${result.status ?? "?"}: ${result.stderr.trim()}`);
  return result.stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
