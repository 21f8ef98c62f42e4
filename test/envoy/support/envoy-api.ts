/**
 * Envoy's own API as the judge of rendered configs: tools/envoy-api is a Go checker on
 * go-control-plane at the Envoy version we deploy (protojson with unknown fields rejected, every
 * Any resolved, protoc-gen-validate rules inside Anys too). tools/envoy-api/build.sh builds it
 * once and caches it outside the repository; each jest worker asks for its path once.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const BUILD_SCRIPT = path.resolve(__dirname, "../../../tools/envoy-api/build.sh");

/** For the beforeAll that builds the checker: a cold build compiles go-control-plane, minutes on 2 loaded cores. */
export const ENVOY_API_BUILD_TIMEOUT_MS = 30 * 60_000;

/** bootstrap: envoy.config.bootstrap.v3.Bootstrap; eds: a DiscoveryResponse of ClusterLoadAssignments (the EDS file). */
export type EnvoyDocumentKind = "bootstrap" | "eds";

export interface EnvoyApiProblem {
  /** JSON path in the document with proto field names, e.g. "static_resources.listeners[0].name". */
  path: string;
  message: string;
}

let checker: string | undefined;

/** The checker binary's path, building it on first use (progress goes to stderr). */
export function envoyApiChecker(): string {
  if (checker !== undefined) return checker;
  const built = spawnSync("bash", [BUILD_SCRIPT], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: ENVOY_API_BUILD_TIMEOUT_MS,
  });
  if (built.status !== 0) {
    throw new Error(`${BUILD_SCRIPT} failed (${built.error?.message ?? `exit ${String(built.status)}`}); its output is on stderr above`);
  }
  checker = built.stdout.trim();
  return checker;
}

function run(args: string[], input?: string): EnvoyApiProblem[] {
  const result = spawnSync(envoyApiChecker(), args, { encoding: "utf8", input, timeout: 60_000 });
  const problems = result.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as EnvoyApiProblem);
  // 0: clean, 1: problems listed; anything else means the check itself did not run.
  if (!((result.status === 0 && problems.length === 0) || (result.status === 1 && problems.length > 0))) {
    throw new Error(`envoy-api ${args.join(" ")}: ${result.error?.message ?? `exit ${String(result.status)}`}: ${result.stderr}${result.stdout}`);
  }
  return problems.map(({ path: at, message }) => ({ path: at, message }));
}

/** Every problem Envoy's API finds in `document`, serialised as JSON. */
export function envoyApiProblems(kind: EnvoyDocumentKind, document: unknown): EnvoyApiProblem[] {
  return run([`-${kind}`, "-"], JSON.stringify(document));
}

/** The same for JSON text exactly as written (an EDS file's content). */
export function envoyApiTextProblems(kind: EnvoyDocumentKind, text: string): EnvoyApiProblem[] {
  return run([`-${kind}`, "-"], text);
}

/** The same for a file, read by the checker itself. */
export function envoyApiFileProblems(kind: EnvoyDocumentKind, file: string): EnvoyApiProblem[] {
  return run([`-${kind}`, file]);
}

/** "path: message" lines, for assertions that read like the checker's report. */
export function describeProblems(problems: readonly EnvoyApiProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.message}`);
}
