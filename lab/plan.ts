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
  /** Kilo's WireGuard IP of the node: mutable, because Kilo renumbers nodes as others join and leave (scenario h). */
  kiloIp: string;
  readonly podCidr: string;
  readonly podGatewayIp: string;
  readonly decoderPodIp: string;
  readonly decoderPodName: string;
  readonly envoyPodName: string;
}

/**
 * Kilo's WireGuard IPs for a set of node names, as Kilo allocates them on Kosmos: every node without an internal IP is
 * its own segment `node:<name>`, segments are sorted by location and get the Kilo subnet's addresses in that order
 * from network + 1 (squat/kilo pkg/mesh/topology.go `NewTopology`; pkg/mesh/ip.go `newAllocator`/`next`).
 */
export function kiloIpsByName(names: readonly string[]): Map<string, string> {
  const sorted = [...new Set(names)].map((name) => `node:${name}`).sort();
  return new Map(sorted.map((location, i) => [location.slice("node:".length), `10.4.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`]));
}

/** Three ingress nodes (so removing one leaves a choice) and one general node. */
export function labNodes(): LabNode[] {
  const nodes = [1, 2, 3, 4].map((i) => ({
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
  const kiloIps = kiloIpsByName(nodes.map((n) => n.name));
  for (const n of nodes) n.kiloIp = kiloIps.get(n.name)!;
  return nodes;
}

/** A node that joins in scenario h; its name sorts before every lab node, so its joining renumbers them all. */
export const JOINING_NODE = { name: "scw-lab-a-joining-1", podCidr: "100.64.9.0/24", publicIp: "198.51.100.99" } as const;

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
