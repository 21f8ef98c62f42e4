/**
 * The lab's address plan. Every address lives only inside the lab's network namespaces;
 * the "internet" underlay uses TEST-NET-2 (198.51.100.0/24).
 */

/** Prefix of every namespace and interface the lab creates; clean-up removes exactly these. */
export const PREFIX = "iuil";

export const DEVICE_SUBNET = "10.128.0.0/14";
/** Device i has address DEVICE_BASE + i; the /14 holds 262,144 addresses. */
export const DEVICE_BASE = "10.128.0.10";
export const MAX_DEVICES = 262_144 - 20;
/** Below the ephemeral port range, so no proxy's ephemeral port is also some device's port. */
export const DEVICE_PORT = 20_000;
/**
 * Devices use DEVICE_PORTS source ports (DEVICE_PORT, DEVICE_PORT+1, ...; blocks of 64
 * consecutive devices share one), so decoders can tell a device's own port from a proxy's.
 */
export const DEVICE_PORTS = 256;

export const KILO_SUBNET_PREFIX = 16;
export const GATEWAY_TUNNEL_IP = "10.5.0.1";
export const WIREGUARD_PORT = 51_820;
export const INGRESS_PORT = 5_684;
export const DECODER_PORT = 7_000;

export const UNDERLAY_PREFIX = 24;
export const GATEWAY_PUBLIC_IP = "198.51.100.1";
export const CONCENTRATOR_PUBLIC_IP = "198.51.100.2";

/** The gateway's address on the device uplink (also the ingress address devices send to). */
export const UPLINK_GATEWAY_IP = "10.6.0.1";
/** The concentrator's WireGuard port, which the gateway's uplink config dials. */
export const CONCENTRATOR_WIREGUARD_PORT = 51_821;

export interface LabNode {
  readonly name: string; // Kubernetes node name
  readonly index: number;
  readonly ingress: boolean;
  readonly ns: string;
  readonly podNs: string;
  readonly wgIf: string;
  readonly publicIp: string;
  readonly kiloIp: string;
  readonly podCidr: string;
  readonly podGatewayIp: string;
  readonly decoderPodIp: string;
  readonly decoderPodName: string;
  readonly envoyPodName: string;
}

/** Three ingress nodes (so removing one leaves a choice) and one general node. */
export function labNodes(): LabNode[] {
  return [1, 2, 3, 4].map((i) => ({
    name: i <= 3 ? `scw-lab-ingress-${i}` : `scw-lab-general-1`,
    index: i,
    ingress: i <= 3,
    ns: `${PREFIX}-n${i}`,
    podNs: `${PREFIX}-n${i}-pod`,
    wgIf: `${PREFIX}k${i}`,
    publicIp: `198.51.100.${10 + i}`,
    kiloIp: `10.4.0.${i}`,
    podCidr: `100.64.${i}.0/24`,
    podGatewayIp: `100.64.${i}.1`,
    decoderPodIp: `100.64.${i}.10`,
    decoderPodName: `decoder-${i}`,
    envoyPodName: `envoy-udp-ingress-${i}`,
  }));
}

export const NS = {
  internet: `${PREFIX}-inet`,
  fleet: `${PREFIX}-fleet`,
  concentrator: `${PREFIX}-conc`,
  gateway: `${PREFIX}-gw`,
  plainFleet: `${PREFIX}-pfleet`,
  plainRouter: `${PREFIX}-prouter`,
  plainSink: `${PREFIX}-psink`,
} as const;

export const IF = {
  bridge: `${PREFIX}br`,
  concentratorWg: `${PREFIX}cu`,
  gatewayUplinkWg: `${PREFIX}gu`,
  gatewayKiloWg: `${PREFIX}gk`,
} as const;

/** The plain routed path of the benchmark: fleet -> router -> sink, veths only. */
export const PLAIN = {
  fleetIp: "192.0.2.2",
  routerFleetIp: "192.0.2.1",
  routerSinkIp: "192.0.2.129",
  sinkIp: "192.0.2.130",
  fleetPrefix: 25,
} as const;
