import { generateKeyPair, type WireguardConfig, type WireguardKeyPair } from "../infra/wireguard";
import {
  CONCENTRATOR_PUBLIC_IP,
  CONCENTRATOR_WIREGUARD_PORT,
  DEVICE_SUBNET,
  GATEWAY_PUBLIC_IP,
  GATEWAY_TUNNEL_IP,
  IF,
  KILO_SUBNET_PREFIX,
  NS,
  PLAIN,
  PREFIX,
  UNDERLAY_PREFIX,
  WIREGUARD_PORT,
  type LabNode,
} from "./plan";
import { type ProcessRegistry } from "./processes";
import { runOk } from "../harness/commands";
import { addNetns, ipBatch, sysctl } from "../harness/netns";
import { applyWireguard, reconfigureWireguard } from "./wg";

export function addNamespace(ns: string): void {
  // No watchdog: the lab's names are fixed and its clean-up (also at the next start) removes them.
  addNetns(ns, { watchdog: false });
}

/** A veth pair between two namespaces. */
export function veth(nsA: string, ifA: string, nsB: string, ifB: string): void {
  runOk("ip", ["link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB]);
}

/** The "internet": a bridge namespace every public endpoint hangs off, as `up0` in its own namespace. */
export function buildUnderlay(members: ReadonlyArray<{ ns: string; ip: string; tag: string }>): void {
  addNamespace(NS.internet);
  ipBatch(NS.internet, [`link add ${IF.bridge} type bridge`, `link set ${IF.bridge} up`]);
  for (const m of members) {
    const outer = `${PREFIX}u${m.tag}`;
    veth(NS.internet, outer, m.ns, "up0");
    ipBatch(NS.internet, [`link set ${outer} master ${IF.bridge}`, `link set ${outer} up`]);
    ipBatch(m.ns, [`address add ${m.ip}/${UNDERLAY_PREFIX} dev up0`, "link set up0 up"]);
  }
}

/**
 * The device fleet owns the whole device subnet (a `local` route), so the simulator can
 * send from and receive on any device address; everything else goes to the concentrator.
 */
export function buildFleet(): void {
  veth(NS.fleet, "eth0", NS.concentrator, `${PREFIX}fleet`);
  ipBatch(NS.fleet, ["address add 172.31.0.2/30 dev eth0", "link set eth0 up", `route add local ${DEVICE_SUBNET} dev lo`, "route add default via 172.31.0.1"]);
  ipBatch(NS.concentrator, [`address add 172.31.0.1/30 dev ${PREFIX}fleet`, `link set ${PREFIX}fleet up`, `route add ${DEVICE_SUBNET} via 172.31.0.2`]);
  sysctl(NS.concentrator, { "net.ipv4.ip_forward": 1 });
}

/**
 * The operator side of the device uplink: its only peer is the gateway, which may answer
 * from any cluster address (pod IPs, or the ingress address when downlinks are rewritten).
 */
export async function buildConcentrator(
  registry: ProcessRegistry,
  keys: WireguardKeyPair,
  gateway: { publicKey: string; uplinkPort: number; routedToGateway: readonly string[] },
): Promise<void> {
  const config: WireguardConfig = {
    interface: { privateKey: keys.privateKey, listenPort: CONCENTRATOR_WIREGUARD_PORT, table: "off" },
    peers: [{ name: "gateway", publicKey: gateway.publicKey, allowedIps: ["0.0.0.0/0"], endpoint: { host: GATEWAY_PUBLIC_IP, port: gateway.uplinkPort }, persistentKeepalive: 25 }],
  };
  await applyWireguard(registry, NS.concentrator, IF.concentratorWg, config);
  ipBatch(NS.concentrator, gateway.routedToGateway.map((cidr) => `route replace ${cidr} dev ${IF.concentratorWg}`));
}

/** A member of the Kilo mesh: a lab node, or the joining node of scenario h (no namespace: it carries no traffic). */
export interface KiloMember {
  readonly node: { readonly name: string; readonly podCidr: string; readonly publicIp: string; readonly kiloIp: string };
  readonly keys: WireguardKeyPair;
}

export interface KiloNodeKeys extends KiloMember {
  readonly node: LabNode;
}

/**
 * A Kosmos node as Kilo configures it: every node is its own segment and leader, so its
 * kilo interface has one peer per other node (AllowedIPs = that node's Kilo IP /32 and pod
 * CIDR) plus the gateway Peer (AllowedIPs = tunnel /32 + device subnets). Routes: pod CIDRs
 * via the owning node's Kilo IP, the Peer's allowedIPs straight to the interface.
 */
export function kiloNodeConfig(self: KiloNodeKeys, all: readonly KiloMember[], gatewayPublicKey: string, deviceSubnets: readonly string[]): WireguardConfig {
  return {
    interface: { privateKey: self.keys.privateKey, addresses: [`${self.node.kiloIp}/${KILO_SUBNET_PREFIX}`], listenPort: WIREGUARD_PORT, table: "off" },
    peers: [
      ...all
        .filter((o) => o.node.name !== self.node.name)
        .map((o) => ({
          name: o.node.name,
          publicKey: o.keys.publicKey,
          allowedIps: [o.node.podCidr, `${o.node.kiloIp}/32`],
          endpoint: { host: o.node.publicIp, port: WIREGUARD_PORT },
        })),
      { name: "peer gateway", publicKey: gatewayPublicKey, allowedIps: [`${GATEWAY_TUNNEL_IP}/32`, ...deviceSubnets], endpoint: { host: GATEWAY_PUBLIC_IP, port: WIREGUARD_PORT } },
    ],
  };
}

export async function buildNode(registry: ProcessRegistry, self: KiloNodeKeys, all: readonly KiloNodeKeys[], gatewayPublicKey: string, deviceSubnets: readonly string[]): Promise<void> {
  const n = self.node;
  sysctl(n.ns, { "net.ipv4.ip_forward": 1 });
  await applyWireguard(registry, n.ns, n.wgIf, kiloNodeConfig(self, all, gatewayPublicKey, deviceSubnets));
  ipBatch(n.ns, [
    ...all.filter((o) => o.node.name !== n.name).map((o) => `route add ${o.node.podCidr} via ${o.node.kiloIp} dev ${n.wgIf}`),
    ...[`${GATEWAY_TUNNEL_IP}/32`, ...deviceSubnets].map((cidr) => `route add ${cidr} dev ${n.wgIf}`),
  ]);
  // The decoder pod: one veth from the node's pod bridge address to the pod.
  addNamespace(n.podNs);
  const hostIf = `${PREFIX}v${n.index}`;
  veth(n.ns, hostIf, n.podNs, "eth0");
  ipBatch(n.ns, [`address add ${n.podGatewayIp}/24 dev ${hostIf}`, `link set ${hostIf} up`]);
  ipBatch(n.podNs, [`address add ${n.decoderPodIp}/24 dev eth0`, "link set eth0 up", `route add default via ${n.podGatewayIp}`]);
}

/** Kilo's reaction on a node to a topology change (renumbering): the new peer config and Kilo IP, routes to match. */
export function resyncNode(self: KiloNodeKeys, all: readonly KiloMember[], gatewayPublicKey: string, deviceSubnets: readonly string[]): void {
  const n = self.node;
  reconfigureWireguard(n.ns, n.wgIf, kiloNodeConfig(self, all, gatewayPublicKey, deviceSubnets));
  ipBatch(n.ns, [
    ...all.filter((o) => o.node.name !== n.name).map((o) => `route replace ${o.node.podCidr} via ${o.node.kiloIp} dev ${n.wgIf}`),
    ...[`${GATEWAY_TUNNEL_IP}/32`, ...deviceSubnets].map((cidr) => `route replace ${cidr} dev ${n.wgIf}`),
  ]);
}

/** The benchmark's reference path: fleet -> router -> sink over plain veths, no WireGuard, no nftables. */
export function buildPlainPath(): void {
  for (const ns of [NS.plainFleet, NS.plainRouter, NS.plainSink]) addNamespace(ns);
  veth(NS.plainFleet, "eth0", NS.plainRouter, "fleet0");
  veth(NS.plainRouter, "sink0", NS.plainSink, "eth0");
  ipBatch(NS.plainFleet, [`address add ${PLAIN.fleetIp}/${PLAIN.fleetPrefix} dev eth0`, "link set eth0 up", `route add local ${DEVICE_SUBNET} dev lo`, `route add default via ${PLAIN.routerFleetIp}`]);
  ipBatch(NS.plainRouter, [
    `address add ${PLAIN.routerFleetIp}/${PLAIN.fleetPrefix} dev fleet0`,
    "link set fleet0 up",
    `address add ${PLAIN.routerSinkIp}/${PLAIN.fleetPrefix} dev sink0`,
    "link set sink0 up",
    `route add ${DEVICE_SUBNET} via ${PLAIN.fleetIp}`,
  ]);
  ipBatch(NS.plainSink, [`address add ${PLAIN.sinkIp}/${PLAIN.fleetPrefix} dev eth0`, "link set eth0 up", `route add default via ${PLAIN.routerSinkIp}`]);
  sysctl(NS.plainRouter, { "net.ipv4.ip_forward": 1 });
}

export function newKeys(): WireguardKeyPair {
  return generateKeyPair();
}

export const UNDERLAY_CONCENTRATOR = { ns: NS.concentrator, ip: CONCENTRATOR_PUBLIC_IP, tag: "conc" };
export const UNDERLAY_GATEWAY = { ns: NS.gateway, ip: GATEWAY_PUBLIC_IP, tag: "gw" };
