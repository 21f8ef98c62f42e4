import { resolveGatewayPlan, type GatewayPlanInput } from "../infra/gateway";
import { problemsOf, withPaths, type Problem } from "../infra/problems";
import type { ParsedStackConfig } from "./config-schema";

/**
 * Stands in for a download sum that is not pinned yet, in plans only. No file has this sum, so a gateway booted with
 * it refuses the download; `pulumi up` refuses to get that far (see `pinnedDownload` in stacks/environment.ts).
 */
export const UNPINNED_SHA256 = "0".repeat(64);

type GatewaySections = Pick<ParsedStackConfig, "devices" | "cluster" | "gateway" | "ingress" | "decoder">;

/**
 * What the gateway reads of the decoder section, for a check of a config whose decoder section failed its schema:
 * valid stand-ins, so that the address plan is still checked; problems at decoder keys are then dropped (the schema
 * has already reported that section).
 */
const STAND_IN_DECODER = { downlinkPorts: [] as number[], namespace: "decoder", name: "decoder" };

/**
 * The gateway's plan input from the stack config: the one mapping of config keys onto the gateway's, used to build
 * the component and to check the config. The node label and pod selector are the components' (the stack passes
 * those it was given); the check uses the plan's defaults, which are the same values.
 */
export function gatewayPlanInput(
  name: string,
  config: Omit<GatewaySections, "decoder"> & { readonly decoder: Pick<GatewaySections["decoder"], "downlinkPorts" | "namespace" | "name"> },
  derived: Partial<Pick<GatewayPlanInput["steering"], "ingressNodeLabel" | "envoyPodSelector">> = {},
): GatewayPlanInput {
  const { gateway } = config;
  const unpinned = (download: { version: string; sha256?: string }) => ({ version: download.version, sha256: download.sha256 ?? UNPINNED_SHA256 });
  return {
    peerName: name,
    tunnelAddress: gateway.tunnelAddress,
    kiloListenPort: gateway.kiloListenPort,
    persistentKeepaliveSeconds: gateway.persistentKeepaliveSeconds,
    deviceSubnets: config.devices.subnets,
    cluster: { podCidr: config.cluster.podCidr, serviceCidr: config.cluster.serviceCidr },
    adminCidrs: gateway.adminCidrs,
    uplink: gateway.uplink,
    ingress: { ...(config.ingress.address === undefined ? {} : { address: config.ingress.address }), port: config.ingress.port },
    downlinkSourceRewrite: gateway.downlinkSourceRewrite,
    downlinkPorts: config.decoder.downlinkPorts,
    devices: { expectedCount: config.devices.expectedCount, reportIntervalSeconds: config.devices.reportIntervalSeconds },
    steering: {
      ...derived,
      envoyNamespace: config.ingress.namespace,
      decoderNamespace: config.decoder.namespace,
      decoderServiceName: config.decoder.name,
      intervalSeconds: gateway.steering.intervalSeconds,
      buckets: gateway.steering.buckets,
    },
    tools: { kgctl: unpinned(gateway.tools.kgctl), kubectl: unpinned(gateway.tools.kubectl) },
  };
}

/** Where each key of the gateway's plan input is set in the stack config. */
const CONFIG_KEY_OF: Readonly<Record<string, string>> = {
  deviceSubnets: "devices.subnets",
  "cluster.podCidr": "cluster.podCidr",
  "cluster.serviceCidr": "cluster.serviceCidr",
  ingress: "ingress",
  downlinkPorts: "decoder.downlinkPorts",
  devices: "devices",
  "steering.envoyNamespace": "ingress.namespace",
  "steering.decoderNamespace": "decoder.namespace",
  "steering.decoderServiceName": "decoder.name",
};

/** The gateway's own rules over the config (address plan, concentrator routing, ports), reported at config keys. */
export function gatewayConfigProblems(config: Omit<GatewaySections, "decoder"> & Partial<Pick<GatewaySections, "decoder">>): Problem[] {
  const decoder = config.decoder ?? STAND_IN_DECODER;
  const problems = withPaths(problemsOf(() => resolveGatewayPlan(gatewayPlanInput("gateway", { ...config, decoder }))), CONFIG_KEY_OF, "gateway");
  return config.decoder === undefined ? problems.filter((problem) => !problem.path.startsWith("decoder.")) : problems;
}
