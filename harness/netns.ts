/**
 * Network namespaces (root): creating and removing them, and running commands inside. The namespace names are global
 * to the machine, so the tests make theirs unique per run; the lab uses fixed, prefixed names and cleans them up itself.
 */
import { randomBytes } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { run, runOk } from "./commands";

/** A namespace name unique to this run. */
export function uniqueNetnsName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/*
 * Namespaces outlive the process that made them, so each one gets a detached watchdog shell that deletes it when
 * this process dies (however it dies: jest's own signal handling does not let a test see SIGINT), and that stops by
 * itself once the namespace is gone.
 */
const WATCHDOG = 'while kill -0 "$1" 2>/dev/null && [ -e "/run/netns/$2" ]; do sleep 1; done; ip netns delete "$2" 2>/dev/null; exit 0';

function watch(name: string): void {
  const watchdog = spawn("sh", ["-c", WATCHDOG, "sh", String(process.pid), name], { detached: true, stdio: "ignore" });
  watchdog.unref();
}

/** Adds a namespace with its loopback up. `watchdog`: delete it when this process dies (the default). */
export function addNetns(name: string, options: { watchdog?: boolean } = {}): void {
  const added = run("ip", ["netns", "add", name]);
  if (added.status !== 0) throw new Error(`ip netns add ${name} failed (root needed): ${added.stderr}`);
  if (options.watchdog ?? true) watch(name);
  runOk("ip", ["-n", name, "link", "set", "lo", "up"]);
}

/** Deletes a namespace if it exists; never throws, so it is safe in cleanup paths. */
export function deleteNetns(name: string): void {
  spawnSync("ip", ["netns", "delete", name], { stdio: "ignore" });
}

/** Runs `fn` with a fresh namespace that is always deleted afterwards. */
export function withNetns<T>(prefix: string, fn: (name: string) => T): T {
  const name = uniqueNetnsName(prefix);
  addNetns(name);
  try {
    return fn(name);
  } finally {
    deleteNetns(name);
  }
}

/** The names of the machine's namespaces (`ip netns list`). */
export function listNetns(): string[] {
  return runOk("ip", ["netns", "list"])
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => name !== "");
}

/** Runs a command in a namespace and returns its stdout; throws with its output when it fails. */
export function nsExec(ns: string, command: string, args: readonly string[], input?: string): string {
  const result = run("ip", ["netns", "exec", ns, command, ...args], input, { timeoutMs: 120_000 });
  if (result.status !== 0) {
    throw new Error(`in ${ns}: ${command} ${args.join(" ")} exited ${result.status}: ${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

/** `ip -n NS ...` for each line of a batch (one `ip -batch` call per namespace keeps setup fast). */
export function ipBatch(ns: string, lines: readonly string[]): void {
  if (lines.length > 0) runOk("ip", ["-n", ns, "-batch", "-"], lines.join("\n") + "\n");
}

/** Sets sysctls inside a namespace. */
export function sysctl(ns: string, settings: Record<string, string | number>): void {
  nsExec(ns, "sysctl", ["-q", ...Object.entries(settings).map(([key, value]) => `${key}=${value}`)]);
}
