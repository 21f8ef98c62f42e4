import type { EnvoyUdpIngressArgs } from "../../../components";

export const placement = {
  nodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
  nodeTaint: { key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" as const },
};

/** The EnvoyUdpIngress component tests' common arguments, with `overrides`. */
export function args(overrides: Partial<EnvoyUdpIngressArgs> = {}): EnvoyUdpIngressArgs {
  return {
    namespace: "iot-ingress",
    createNamespace: true,
    envoyImage: "envoyproxy/envoy:v1.40.2",
    edsSidecarImage: "node:22.21.1-alpine3.22",
    listenerPort: 5683,
    deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"],
    placement,
    decoder: { namespace: "iot-decoder", serviceName: "decoder" },
    sessions: { devices: 250000, reportIntervalSeconds: 300, ingressNodes: 4 },
    idleTimeoutSeconds: 60,
    maxDatagramBytes: 1280,
    concurrency: 2,
    ...overrides,
  };
}
