import { randomBytes } from "crypto";
import { spawn, spawnSync } from "child_process";
import { run } from "./tools";

/** A namespace name unique to this run (names are global to the machine). */
export function uniqueNetnsName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/*
 * Namespaces outlive the process that made them, so each one gets a detached watchdog shell that deletes it when
 * this test process dies (however it dies: jest's own signal handling does not let a test see SIGINT), and that
 * stops by itself once the namespace is gone.
 */
const WATCHDOG = 'while kill -0 "$1" 2>/dev/null && [ -e "/run/netns/$2" ]; do sleep 1; done; ip netns delete "$2" 2>/dev/null; exit 0';

function watch(name: string): void {
  const watchdog = spawn("sh", ["-c", WATCHDOG, "sh", String(process.pid), name], { detached: true, stdio: "ignore" });
  watchdog.unref();
}

export function addNetns(name: string): void {
  const added = run("ip", ["netns", "add", name]);
  if (added.status !== 0) throw new Error(`ip netns add ${name} failed (root needed): ${added.stderr}`);
  watch(name);
  run("ip", ["-n", name, "link", "set", "lo", "up"]);
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

/** Runs a command in a namespace and throws with its output when it fails. */
export function nsExec(ns: string, command: string, args: readonly string[], input?: string): string {
  const result = run("ip", ["netns", "exec", ns, command, ...args], input);
  if (result.status !== 0) {
    throw new Error(`in ${ns}: ${command} ${args.join(" ")} exited ${result.status}: ${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}
