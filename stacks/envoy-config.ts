import { resolveEnvoyPlan, type EnvoyPlanInput } from "../infra/envoy";
import { problemsOf, withPaths, type Problem } from "../infra/problems";
import { ingressNodes, type ParsedStackConfig } from "./config-schema";

type EnvoySections = Pick<ParsedStackConfig, "devices" | "cluster" | "ingress">;

/** The Envoy plan's input from the stack config: the one mapping of config keys onto Envoy's, for the component and the check. */
export function envoyPlanInput(config: EnvoySections): EnvoyPlanInput {
  const { devices, ingress } = config;
  return {
    listenerPort: ingress.port,
    deviceSubnets: devices.subnets,
    sessions: { devices: devices.expectedCount, reportIntervalSeconds: devices.reportIntervalSeconds, ingressNodes: ingressNodes(config.cluster).count },
    idleTimeoutSeconds: ingress.idleTimeoutSeconds,
    maxDatagramBytes: devices.maxDatagramBytes,
    concurrency: ingress.concurrency,
    adminPort: ingress.adminPort,
    metricsPort: ingress.metricsPort,
    metrics: { scrape: ingress.metrics.scrape },
  };
}

/**
 * The Envoy plan's rules (infra/envoy/plan.ts: the ports, the metrics port against the device and admin ports, whether
 * one ingress node can hold its share of the fleet's sessions), run on the values the stack gives EnvoyUdpIngress and
 * reported at the config keys they come from.
 */
export function envoyConfigProblems(config: EnvoySections): Problem[] {
  const configKeyOf: Readonly<Record<string, string>> = {
    listenerPort: "ingress.port",
    deviceSubnets: "devices.subnets",
    "sessions.devices": "devices.expectedCount",
    "sessions.reportIntervalSeconds": "devices.reportIntervalSeconds",
    "sessions.ingressNodes": ingressNodes(config.cluster).path,
    maxDatagramBytes: "devices.maxDatagramBytes",
  };
  // The same map names the other key of a rule between two keys, so the message names config keys too.
  const configKey = (key: string): string => withPaths([{ path: key, message: "" }], configKeyOf, "ingress")[0]!.path;
  return withPaths(problemsOf(() => resolveEnvoyPlan(envoyPlanInput(config), configKey)), configKeyOf, "ingress");
}
