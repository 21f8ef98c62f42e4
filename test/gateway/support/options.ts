import type { GatewayHostOptions } from "../../../infra/gateway";
import { encodeKey } from "../../../infra/wireguard";

/** Fixed keys: tests compare whole rendered files. */
export const KILO_PRIVATE_KEY = encodeKey(Buffer.alloc(32, 0x41));
export const UPLINK_PRIVATE_KEY = encodeKey(Buffer.alloc(32, 0x42));
export const CONCENTRATOR_PUBLIC_KEY = encodeKey(Buffer.alloc(32, 0x43));
export const SECOND_CONCENTRATOR_PUBLIC_KEY = encodeKey(Buffer.alloc(32, 0x44));
export const KGCTL_SHA256 = "1".repeat(64);
export const KUBECTL_SHA256 = "2".repeat(64);
export const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n";

/** A gateway as the preview stack would describe it. */
export function gatewayOptions(overrides: Partial<GatewayHostOptions> = {}): GatewayHostOptions {
  return {
    peerName: "iot-gateway",
    tunnelAddress: "10.5.0.1",
    kiloPrivateKey: KILO_PRIVATE_KEY,
    kubeconfig: KUBECONFIG,
    deviceSubnets: ["10.128.0.0/14", "10.200.0.0/16"],
    cluster: { podCidr: "100.64.0.0/15" },
    uplink: {
      privateKey: UPLINK_PRIVATE_KEY,
      address: "10.5.1.1",
      concentrators: [
        { name: "operator-vpn", publicKey: CONCENTRATOR_PUBLIC_KEY, endpoint: "198.51.100.7:51821", sourceCidrs: ["198.51.100.0/28"] },
      ],
    },
    ingress: { port: 5683 },
    adminCidrs: ["203.0.113.0/24"],
    devices: { expectedCount: 250_000, reportIntervalSeconds: 300 },
    steering: { envoyNamespace: "iot-ingress", decoderNamespace: "iot-decoder", decoderServiceName: "decoder" },
    tools: { kgctl: { sha256: KGCTL_SHA256 }, kubectl: { sha256: KUBECTL_SHA256 } },
    ...overrides,
  };
}
