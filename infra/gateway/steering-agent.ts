import { NAT_TABLE, STEER_CHAIN, STEER_MAP } from "./nftables";
import type { GatewayPlan } from "./plan";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { readGatewayScript } from "./script-files";
import { withShellParameters, type ShellParameter } from "./shell-parameters";

/** Exit status of the agent when it kept the last map because the API could not be read. */
export const STEERING_EXIT_API_ERROR = 2;
/** Exit status when no ingress node qualified and the last map was kept. */
export const STEERING_EXIT_NO_TARGETS = 3;
/** Exit status when there is neither a usable decision nor a last good one to restore. */
export const STEERING_EXIT_NOTHING_APPLIED = 4;
/** Exit status when steering was applied but the Kilo interface has left a node unrouted for too long (stale mesh). */
export const STEERING_EXIT_MESH_STALE = 5;
/** The agent's metrics file in the node exporter's textfile directory (the collector reads only `*.prom`). */
export const GATEWAY_METRICS_FILE = "iot_gateway.prom";
/** Timestamps the metrics carry from run to run (last success, change, API error), in the agent's state directory. */
export const METRICS_HISTORY_FILE = "metrics-history.json";

/** Name of the mesh status file in the agent's state directory. */
export const MESH_STATUS_FILE = "mesh-status.json";

/**
 * How long a node Kilo counts may stay unrouted by the gateway's Kilo interface before the agent reports a stale mesh
 * config: three kgctl resync periods (kgctl connect re-applies the peer config every period; cmd/kgctl/connect_linux.go
 * `--resync-period`), and at least a minute, so a node that joins is routed by the next sync without a report.
 */
export function meshStaleAfterSeconds(options: GatewayPlan): number {
  return Math.max(60, 3 * options.kilo.resyncPeriodSeconds);
}

/**
 * The variables scripts/steering-agent.sh reads. The transaction and mesh status programs travel inside the agent
 * (the decision program is a file of its own, scripts/steering-targets.jq), so the agent is one file that tests and
 * the lab can run wherever they write it.
 */
export function steeringAgentParameters(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): ShellParameter[] {
  const s = options.steering;
  return [
    { name: "KUBECTL", value: paths.kubectl },
    { name: "KUBECONFIG_FILE", value: paths.kubeconfig },
    { name: "JQ", value: paths.jq },
    { name: "NFT", value: paths.nft },
    { name: "CONNTRACK", value: paths.conntrack },
    { name: "WG", value: paths.wg },
    { name: "DECISION_PROGRAM", value: paths.steeringProgram },
    { name: "STATE_DIR", value: paths.steeringStateDir },
    { name: "RUN_DIR", value: paths.steeringRunDir },
    { name: "LABEL_KEY", value: s.ingressNodeLabel.key },
    { name: "LABEL_VALUE", value: s.ingressNodeLabel.value },
    { name: "ENVOY_NAMESPACE", value: s.envoyNamespace },
    { name: "ENVOY_SELECTOR", value: s.envoyPodSelector },
    { name: "DECODER_NAMESPACE", value: s.decoderNamespace },
    { name: "DECODER_SERVICE", value: s.decoderServiceName },
    { name: "BUCKETS", value: s.buckets },
    { name: "SEED", value: s.hashSeed },
    { name: "INGRESS_ADDRESS", value: options.ingress.address },
    { name: "INGRESS_PORT", value: options.ingress.port },
    { name: "NFT_TABLE", value: NAT_TABLE },
    { name: "NFT_CHAIN", value: STEER_CHAIN },
    { name: "NFT_MAP", value: STEER_MAP },
    { name: "KILO_IFACE", value: options.kilo.interfaceName },
    { name: "STALE_AFTER", value: meshStaleAfterSeconds(options) },
    { name: "MESH_STATUS", value: `${paths.steeringStateDir}/${MESH_STATUS_FILE}` },
    { name: "EXIT_API_ERROR", value: STEERING_EXIT_API_ERROR },
    { name: "EXIT_NO_TARGETS", value: STEERING_EXIT_NO_TARGETS },
    { name: "EXIT_NOTHING_APPLIED", value: STEERING_EXIT_NOTHING_APPLIED },
    { name: "EXIT_MESH_STALE", value: STEERING_EXIT_MESH_STALE },
    { name: "UPLINK_IFACE", value: options.uplink.interfaceName },
    { name: "TEXTFILE_DIR", value: paths.textfileDir },
    { name: "METRICS_FILE", value: GATEWAY_METRICS_FILE },
    { name: "METRICS_HISTORY", value: `${paths.steeringStateDir}/${METRICS_HISTORY_FILE}` },
    { name: "CONNTRACK_DIR", value: paths.conntrackProcDir },
    {
      name: "UPLINK_PEERS",
      value: JSON.stringify(Object.fromEntries(options.uplink.concentrators.map((c) => [c.publicKey, c.name]))),
      comment: "concentrator name by WireGuard public key, for the metrics' peer label",
    },
    { name: "METRICS_PROGRAM", value: readGatewayScript("gateway-metrics.jq").trimEnd(), comment: "scripts/gateway-metrics.jq" },
    { name: "RENDER_PROGRAM", value: readGatewayScript("steering-transaction.jq").trimEnd(), comment: "scripts/steering-transaction.jq" },
    { name: "MESH_PROGRAM", value: readGatewayScript("mesh-status.jq").trimEnd(), comment: "scripts/mesh-status.jq" },
  ];
}

/**
 * The steering agent as the VM gets it: scripts/steering-agent.sh (which documents what it does and its fail-static
 * rule) with its parameters rendered in. `sync` refreshes the map once; `render` turns a decision on stdin into the
 * nft transaction.
 */
export function renderSteeringAgentScript(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  return withShellParameters(readGatewayScript("steering-agent.sh"), steeringAgentParameters(options, paths));
}
