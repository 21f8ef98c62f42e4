import { resolveGatewayPlan, type GatewayPairMember, type GatewayPairSecrets, type GatewayPlan, type GatewayPlanInput, type GatewaySecrets } from "../../../infra/gateway";
import { encodeKey } from "../../../infra/wireguard";

/** Fixed keys: tests compare whole rendered files. */
export const KILO_PRIVATE_KEY = encodeKey(Buffer.alloc(32, 0x41));
export const UPLINK_PRIVATE_KEY = encodeKey(Buffer.alloc(32, 0x42));
export const CONCENTRATOR_PUBLIC_KEY = encodeKey(Buffer.alloc(32, 0x43));
export const SECOND_CONCENTRATOR_PUBLIC_KEY = encodeKey(Buffer.alloc(32, 0x44));
export const KGCTL_SHA256 = "1".repeat(64);
export const KUBECTL_SHA256 = "2".repeat(64);
export const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n";

/** The secrets the cloud-init carries, fixed. */
export const GATEWAY_SECRETS: GatewaySecrets = { kiloPrivateKey: KILO_PRIVATE_KEY, uplinkPrivateKey: UPLINK_PRIVATE_KEY, kubeconfig: KUBECONFIG };

/** A gateway as the preview stack would describe it. */
export function gatewayPlanInput(overrides: Partial<GatewayPlanInput> = {}): GatewayPlanInput {
  return {
    peerName: "iot-gateway",
    tunnelAddress: "10.5.0.1",
    deviceSubnets: ["10.128.0.0/14", "10.200.0.0/16"],
    cluster: { podCidr: "100.64.0.0/15" },
    uplink: {
      address: "10.5.1.1",
      concentrators: [
        { name: "operator-vpn", publicKey: CONCENTRATOR_PUBLIC_KEY, endpoint: "198.51.100.7:51821", sourceCidrs: ["198.51.100.0/28"] },
      ],
    },
    ingress: { port: 5683 },
    adminCidrs: ["203.0.113.0/24"],
    devices: { expectedCount: 250_000, reportIntervalSeconds: 300 },
    steering: { envoyNamespace: "iot-ingress", decoderNamespace: "iot-decoder", decoderServiceName: "decoder" },
    tools: { kgctl: { version: "0.7.0", sha256: KGCTL_SHA256 }, kubectl: { version: "v1.34.2", sha256: KUBECTL_SHA256 } },
    ...overrides,
  };
}

/** The resolved plan of `gatewayPlanInput(overrides)`. */
export function gatewayPlan(overrides: Partial<GatewayPlanInput> = {}): GatewayPlan {
  return resolveGatewayPlan(gatewayPlanInput(overrides));
}

/**
 * A plan whose WireGuard interfaces have other names. wireguard-go's control sockets (/var/run/wireguard/<name>.sock)
 * are shared by every network namespace, so tests that run one give it a name unique to the run.
 */
export function withInterfaceNames(plan: GatewayPlan, names: { kilo?: string; uplink?: string }): GatewayPlan {
  return {
    ...plan,
    kilo: { ...plan.kilo, interfaceName: names.kilo ?? plan.kilo.interfaceName },
    uplink: { ...plan.uplink, interfaceName: names.uplink ?? plan.uplink.interfaceName },
  };
}

/** One gateway of a pair, as the WireguardGateway component describes it (fixed IDs: tests compare whole files). */
export const PAIR_MEMBER: GatewayPairMember = {
  identity: "iot-gateway-a",
  leaseName: "iot-gateway-leader",
  leaseNamespace: "iot-ingress",
  zone: "fr-par-2",
  sharedIpId: "11111111-2222-4333-8444-555555555555",
  sharedAddress: "51.15.20.30",
};

/** The pair's API key secret, fixed. */
export const PAIR_SECRETS: GatewayPairSecrets = { scalewaySecretKey: "99999999-8888-4777-8666-555555555555" };
