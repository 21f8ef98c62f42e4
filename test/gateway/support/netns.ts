import { randomBytes } from "crypto";
import { spawnSync } from "child_process";
import { run } from "./tools";

/** A namespace name unique to this run (names are global to the machine). */
export function uniqueNetnsName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

// Namespaces still alive, deleted on exit too should a test die between creation and its own cleanup.
const live = new Set<string>();
process.once("exit", () => {
  for (const name of live) spawnSync("ip", ["netns", "delete", name], { stdio: "ignore" });
});

export function addNetns(name: string): void {
  live.add(name);
  const added = run("ip", ["netns", "add", name]);
  if (added.status !== 0) throw new Error(`ip netns add ${name} failed (root needed): ${added.stderr}`);
  run("ip", ["-n", name, "link", "set", "lo", "up"]);
}

/** Deletes a namespace if it exists; never throws, so it is safe in cleanup paths. */
export function deleteNetns(name: string): void {
  live.delete(name);
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
