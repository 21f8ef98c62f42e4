/**
 * The gateway's jq programs run by the real jq (system tier), with the arguments the steering agent passes, on the
 * API fixtures of ./fixtures.
 */
import { writeFileSync } from "fs";
import { join } from "path";
import { run } from "../../../harness/commands";
import { withTempDir } from "../../../harness/temp";
import { gatewayScriptPath, type MeshFacts, type SteeringDecision } from "../../../infra/gateway";
import { DECODER_SERVICE, INGRESS_LABEL, NOW, apiLists, wgAllowedIps, type ApiState } from "./fixtures";

/** Runs the decision program (scripts/steering-targets.jq) with the real jq, with the agent's arguments. */
export function runDecision(state: ApiState, buckets = 16, now = NOW): Required<SteeringDecision> {
  const lists = apiLists(state);
  return withTempDir("decision-", (dir) => {
    const routes = join(dir, "routes.txt");
    writeFileSync(routes, wgAllowedIps(state.peers));
    const input = JSON.stringify({ nodes: lists.nodes, envoyPods: lists.pods, decoderSlices: lists.slices });
    const result = run(
      "jq",
      [
        "-c",
        "--arg", "labelKey", INGRESS_LABEL.key,
        "--arg", "labelValue", INGRESS_LABEL.value,
        "--arg", "decoderService", DECODER_SERVICE,
        "--argjson", "buckets", String(buckets),
        "--rawfile", "routes", routes,
        "--argjson", "now", String(now),
        "-f", gatewayScriptPath("steering-targets.jq"),
      ],
      input,
    );
    if (result.status !== 0) throw new Error(`jq failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as Required<SteeringDecision>;
  });
}

/** The agent's mesh status (scripts/mesh-status.jq with the real jq) for `facts`, after `previous`. */
export interface MeshStatus {
  readonly state: "synced" | "pending" | "stale";
  readonly checkedAt: number;
  readonly syncedAt: number | null;
  readonly unroutedSince: Record<string, number>;
  readonly unrouted: readonly string[];
  readonly unroutedIngress: readonly string[];
  readonly withoutEndpoint: readonly string[];
  readonly message: string | null;
}

export function runMeshStatus(facts: MeshFacts, previous: MeshStatus | undefined, now: number, staleAfter = 90, iface = "kilo0"): MeshStatus {
  return withTempDir("mesh-", (dir) => {
    const previousFile = join(dir, "previous.json");
    writeFileSync(previousFile, previous === undefined ? "" : JSON.stringify(previous));
    const result = run(
      "jq",
      [
        "-c",
        "--slurpfile", "previous", previousFile,
        "--argjson", "now", String(now),
        "--argjson", "staleAfter", String(staleAfter),
        "--arg", "iface", iface,
        "-f", gatewayScriptPath("mesh-status.jq"),
      ],
      JSON.stringify(facts),
    );
    if (result.status !== 0) throw new Error(`jq failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as MeshStatus;
  });
}
