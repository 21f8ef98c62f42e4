import { resolveEnvoyPlan, type EnvoyPlanInput } from "../../../infra/envoy";

export const DEVICES = ["10.128.0.0/14", "10.160.0.0/16"];
// 250,000 devices x 60 s / 300 s / 4 nodes = 12,500 sessions per node; x 1.5 headroom = 18,750 max_connections.
export const baseInput: EnvoyPlanInput = { deviceSubnets: DEVICES, sessions: { devices: 250_000, reportIntervalSeconds: 300, ingressNodes: 4 } };
export const base = resolveEnvoyPlan(baseInput);

// Every value of the plan away from its default; 1,000 devices reporting every 60 s on 1 node: 1,500 max_connections.
export const fullInput: EnvoyPlanInput = {
  listenerPort: 30001,
  deviceSubnets: ["192.0.2.0/24"],
  sessions: { devices: 1000, reportIntervalSeconds: 60, ingressNodes: 1 },
  idleTimeoutSeconds: 120,
  maxDatagramBytes: 512,
  concurrency: 4,
  adminPort: 19000,
  metricsPort: 19100,
  metrics: { scrape: "podMonitor" },
};
export const full = resolveEnvoyPlan(fullInput);
