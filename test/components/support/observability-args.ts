import type { IngressObservabilityArgs } from "../../../components/ingress-observability";

export const alerts = { maxConnections: 18750, steeringIntervalSeconds: 5, uplinkInterface: "wg-uplink" };
/** The IngressObservability component tests' common arguments, with `overrides`. */
export const args = (overrides: Partial<IngressObservabilityArgs> = {}) => ({
  namespace: "iot-ingress",
  alerts,
  ...overrides,
});
