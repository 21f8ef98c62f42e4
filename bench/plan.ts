/**
 * The gateway the bench measures: the preview stack's kind of gateway, resolved by the real plan resolver, with the
 * router namespace's veth names in place of the WireGuard interfaces (kernel forwarding only, no WireGuard).
 */
import { GATEWAY_DEFAULTS, resolveGatewayPlan, type GatewayPlan, type GatewayPlanInput } from "../infra/gateway";
import { encodeKey } from "../infra/wireguard";

/** The router's interfaces: toward the sender (the gateway's uplink) and toward the receiver (its Kilo interface). */
export const ROUTER_UPLINK = "bnch-up";
export const ROUTER_KILO = "bnch-kilo";

export const DEVICE_SUBNET = "10.128.0.0/14";
/** Device i sends from DEVICE_BASE + 1 + i (bench/load). */
export const DEVICE_BASE = "10.128.0.0";
export const INGRESS_ADDRESS = "10.5.1.1";
export const INGRESS_PORT = 5683;
/** Where the synthetic ingress nodes' pod CIDRs are taken from (bench/api-lists.ts), so their steering addresses. */
export const NODE_POD_RANGE = "100.64.0.0/10";

export function benchPlanInput(buckets: number): GatewayPlanInput {
  return {
    peerName: "iot-gateway",
    tunnelAddress: "10.5.0.1",
    deviceSubnets: [DEVICE_SUBNET, "10.200.0.0/16"],
    cluster: { podCidr: "100.64.0.0/15" },
    uplink: {
      address: INGRESS_ADDRESS,
      concentrators: [{ name: "operator-vpn", publicKey: encodeKey(Buffer.alloc(32, 0x43)), endpoint: "198.51.100.7:51821", sourceCidrs: ["198.51.100.0/28"] }],
    },
    ingress: { port: INGRESS_PORT },
    adminCidrs: ["203.0.113.0/24"],
    devices: { expectedCount: 250_000, reportIntervalSeconds: 300 },
    steering: { envoyNamespace: "iot-ingress", decoderNamespace: "iot-decoder", decoderServiceName: "decoder", buckets },
    tools: { kgctl: { version: "0.7.0", sha256: "1".repeat(64) }, kubectl: { version: "v1.34.2", sha256: "2".repeat(64) } },
  };
}

/** The resolved plan at `buckets`, its interface names replaced by the router's veths. */
export function benchPlan(buckets: number = GATEWAY_DEFAULTS.steeringBuckets): GatewayPlan {
  const plan = resolveGatewayPlan(benchPlanInput(buckets));
  return {
    ...plan,
    kilo: { ...plan.kilo, interfaceName: ROUTER_KILO },
    uplink: { ...plan.uplink, interfaceName: ROUTER_UPLINK },
  };
}
