import { execFile } from "node:child_process";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

const repoRoot = path.resolve(__dirname, "../../..");

/** One planned step of `pulumi preview --json`. */
export interface PlannedStep {
  readonly op: string;
  readonly urn: string;
  readonly newState?: {
    readonly type: string;
    readonly custom: boolean;
    readonly inputs?: Record<string, unknown>;
  };
}

/** The parts of `pulumi preview --json` the tests read. */
export interface PreviewPlan {
  readonly steps: readonly PlannedStep[];
  readonly changeSummary: Record<string, number>;
  readonly diagnostics?: readonly { readonly severity: string; readonly message: string; readonly urn?: string }[];
}

export interface OfflinePreview {
  readonly plan: PreviewPlan;
  /** Requests the Scaleway provider sent to its API during the preview ("METHOD path"). */
  readonly scalewayApiRequests: readonly string[];
}

/**
 * Plans a stack with scripts/preview.sh (real engine, language host and providers) and the Scaleway API
 * pointed at a loopback recorder, so the test sees whether the plan needed the cloud at all. The
 * recorder answers 503, so a provider that depends on an API answer fails the preview visibly.
 */
export async function previewStack(stack: string): Promise<OfflinePreview> {
  const requests: string[] = [];
  const recorder = createServer((req: IncomingMessage, res) => {
    requests.push(`${req.method ?? "?"} ${req.url ?? "?"}`);
    res.writeHead(503, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "offline preview: no Scaleway API" }));
  });
  await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
  const { port } = recorder.address() as AddressInfo;
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        "bash",
        [path.join(repoRoot, "scripts/preview.sh"), stack, "--json"],
        {
          cwd: repoRoot,
          env: { ...process.env, SCW_API_URL: `http://127.0.0.1:${port}` },
          maxBuffer: 256 * 1024 * 1024,
        },
        (error, out, err) => {
          if (error) {
            reject(new Error(`scripts/preview.sh ${stack} --json failed: ${error.message}\n${err}\n${out}`));
          } else {
            resolve(out);
          }
        },
      );
    });
    return { plan: JSON.parse(stdout) as PreviewPlan, scalewayApiRequests: requests };
  } finally {
    await new Promise<void>((resolve) => recorder.close(() => resolve()));
  }
}

/** Number of planned resources per type token (the stack and component resources included). */
export function countByType(plan: PreviewPlan): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const step of plan.steps) {
    const type = step.newState?.type;
    if (type !== undefined) {
      counts[type] = (counts[type] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** The planned steps of one resource type. */
export function stepsOfType(plan: PreviewPlan, type: string): PlannedStep[] {
  return plan.steps.filter((step) => step.newState?.type === type);
}

/** Value at a dotted path inside an object, or undefined. */
export function valueAt(value: unknown, dottedPath: string): unknown {
  let current: unknown = value;
  for (const key of dottedPath.split(".")) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
