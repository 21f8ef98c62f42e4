/**
 * Envoy's own API as the judge of rendered configs (system tier): tools/envoy-api is a Go checker on
 * go-control-plane at the Envoy version we deploy (protojson with unknown fields rejected, every
 * Any resolved, protoc-gen-validate rules inside Anys too). tools/envoy-api/build.sh builds it
 * once and caches it outside the repository: the system tier's global setup builds it (showing the
 * build's progress), and each jest worker then asks the script for the cached binary's path once.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { run } from "../../../harness/commands";

const BUILD_SCRIPT = path.resolve(__dirname, "../../../tools/envoy-api/build.sh");

/** For a beforeAll that builds the checker: a cold build compiles go-control-plane, minutes on 2 loaded cores. */
export const ENVOY_API_BUILD_TIMEOUT_MS = 30 * 60_000;

/** bootstrap: envoy.config.bootstrap.v3.Bootstrap; eds: a DiscoveryResponse of ClusterLoadAssignments (the EDS file). */
export type EnvoyDocumentKind = "bootstrap" | "eds";

export interface EnvoyApiProblem {
  /** JSON path in the document with proto field names, e.g. "static_resources.listeners[0].name". */
  path: string;
  message: string;
}

let checker: string | undefined;

/**
 * Builds the checker if its cache is cold, with the build's progress on this process's stderr (but not the line that
 * says it was cached), and resolves with its path. For the system tier's global setup, before the workers start.
 */
export function buildEnvoyApiChecker(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (!line.startsWith("envoy-api: cached: ")) process.stderr.write(`${line}\n`);
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), ENVOY_API_BUILD_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`${BUILD_SCRIPT} failed (${signal ?? `exit ${String(code)}`}); its output is on stderr above`));
    });
  });
}

/** The checker binary's path, building it on first use (quietly: the script's output is shown only if it fails). */
export function envoyApiChecker(): string {
  if (checker !== undefined) return checker;
  const built = run("bash", [BUILD_SCRIPT], undefined, { timeoutMs: ENVOY_API_BUILD_TIMEOUT_MS });
  if (built.status !== 0) throw new Error(`${BUILD_SCRIPT} failed (exit ${String(built.status)}):\n${built.stderr}`);
  checker = built.stdout.trim();
  return checker;
}

function check(args: string[], input?: string): EnvoyApiProblem[] {
  const result = run(envoyApiChecker(), args, input, { timeoutMs: 60_000 });
  const problems = result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as EnvoyApiProblem);
  // 0: clean, 1: problems listed; anything else means the check itself did not run.
  if (!((result.status === 0 && problems.length === 0) || (result.status === 1 && problems.length > 0))) {
    throw new Error(`envoy-api ${args.join(" ")}: exit ${String(result.status)}: ${result.stderr}${result.stdout}`);
  }
  return problems.map(({ path: at, message }) => ({ path: at, message }));
}

/** Every problem Envoy's API finds in `document`, serialised as JSON. */
export function envoyApiProblems(kind: EnvoyDocumentKind, document: unknown): EnvoyApiProblem[] {
  return check([`-${kind}`, "-"], JSON.stringify(document));
}

/** The same for JSON text exactly as written (an EDS file's content). */
export function envoyApiTextProblems(kind: EnvoyDocumentKind, text: string): EnvoyApiProblem[] {
  return check([`-${kind}`, "-"], text);
}

/** The same for a file, read by the checker itself. */
export function envoyApiFileProblems(kind: EnvoyDocumentKind, file: string): EnvoyApiProblem[] {
  return check([`-${kind}`, file]);
}

/** "path: message" lines, for assertions that read like the checker's report. */
export function describeProblems(problems: readonly EnvoyApiProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.message}`);
}
