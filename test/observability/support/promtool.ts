/**
 * Prometheus' own checker (promtool, Debian package `prometheus`) as the judge of what this project renders: the
 * gateway's textfile metrics (`check metrics`), the alert rules (`check rules`, `test rules`) and the dashboard's
 * expressions (checked as recording rules).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

/** Fails (never skips) when promtool is missing, naming the package. */
export function requirePromtool(): void {
  const found = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  if (found.status !== 0) throw new Error("'promtool' is not installed: install the Debian package 'prometheus' to run these tests");
}

/** Runs promtool with `args`, standard input `input`, in `cwd`. */
export function promtool(args: readonly string[], input?: string, cwd?: string): PromtoolResult {
  requirePromtool();
  const result = spawnSync("promtool", args, { encoding: "utf8", input, cwd, timeout: 60_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** `promtool check metrics` on text-format metrics (lint included: HELP, TYPE, counter names, ...). */
export function checkMetrics(text: string): PromtoolResult {
  return promtool(["check", "metrics"], text);
}

/** Writes `files` to a fresh directory, runs `fn` in it and removes it. */
export function withFiles<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "promtool-"));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `promtool check rules` on a rules file's text. */
export function checkRules(yaml: string): PromtoolResult {
  return withFiles({ "rules.yaml": yaml }, (dir) => promtool(["check", "rules", "rules.yaml"], undefined, dir));
}

/** `promtool test rules` on a unit test file that loads `rules.yaml`. */
export function testRules(rulesYaml: string, testsYaml: string): PromtoolResult {
  return withFiles({ "rules.yaml": rulesYaml, "tests.yaml": testsYaml }, (dir) => promtool(["test", "rules", "tests.yaml"], undefined, dir));
}
