/**
 * Prometheus' own checker (promtool, Debian package `prometheus`) as the judge of what this project renders: the
 * gateway's textfile metrics (`check metrics`), the alert rules (`check rules`, `test rules`) and the dashboard's
 * expressions (checked as recording rules).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool, run } from "../../../harness/commands";
import { withTempDir } from "../../../harness/temp";

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

/** Runs promtool with `args`, standard input `input`, in `cwd`; fails (never skips) when promtool is missing. */
export function promtool(args: readonly string[], input?: string, cwd?: string): PromtoolResult {
  requireTool("promtool");
  const result = run("promtool", args, input, { cwd, timeoutMs: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** `promtool check metrics` on text-format metrics (lint included: HELP, TYPE, counter names, ...). */
export function checkMetrics(text: string): PromtoolResult {
  return promtool(["check", "metrics"], text);
}

/**
 * Text-format metrics as `name{labels}` -> value, once `promtool check metrics` has found nothing wrong with them
 * (the expectations fail the calling test otherwise).
 */
export function checkedMetricValues(text: string): Map<string, number> {
  const check = checkMetrics(text);
  expect(check.output).toBe("");
  expect(check.status).toBe(0);
  return new Map(
    text
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))]),
  );
}

/** Writes `files` to a fresh directory, runs `fn` in it and removes it. */
export function withFiles<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  return withTempDir("promtool-", (dir) => {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return fn(dir);
  });
}

/** `promtool check rules` on a rules file's text. */
export function checkRules(yaml: string): PromtoolResult {
  return withFiles({ "rules.yaml": yaml }, (dir) => promtool(["check", "rules", "rules.yaml"], undefined, dir));
}

/** `promtool test rules` on a unit test file that loads `rules.yaml`. */
export function testRules(rulesYaml: string, testsYaml: string): PromtoolResult {
  return withFiles({ "rules.yaml": rulesYaml, "tests.yaml": testsYaml }, (dir) => promtool(["test", "rules", "tests.yaml"], undefined, dir));
}
