import { mkdirSync } from "fs";
import { join } from "path";
import { ENVOY_DECODER_CLUSTER, ENVOY_DEFAULTS, ENVOY_STAT_PREFIX } from "../infra/envoy";
import { type WireguardKeyPair } from "../infra/wireguard";
import { loadApiState, type ApiState } from "./api-state";
import { LabCluster } from "./cluster-api";
import { LabGateway } from "./gateway";
import { writeEdsFile } from "./eds";
import { DEVICE_SUBNET, kiloIpsByName, labNodes, NS, PLAIN, DECODER_PORT, type LabNode } from "./plan";
import { STATE_DIR, type ProcessRegistry } from "./processes";

/** State directory of the lab's Kubernetes control plane (local-cluster.sh's LOCAL_CLUSTER_DIR). */
export const LAB_CLUSTER_DIR = join(STATE_DIR, "..", "cluster");
import { runOk } from "../harness/commands";
import { nsExec } from "../harness/netns";
import { settle } from "./measure";
import { Decoder, DeviceFleet, EnvoyStandin } from "./standins";
import { addNamespace, buildConcentrator, buildFleet, buildNode, buildPlainPath, buildUnderlay, newKeys, resyncNode, UNDERLAY_CONCENTRATOR, UNDERLAY_GATEWAY, type KiloMember, type KiloNodeKeys } from "./topology";

export const DECODER_CLUSTER = "decoder";
export const DECODER_PORT_NAME = "udp";
/**
 * The stand-ins' session idle timeout. Envoy's default is 60 s; the lab's fleet sends a
 * datagram per device within seconds (a real fleet spreads its reports over minutes), so a
 * scaled-down timeout keeps the number of concurrent sessions, each holding one ephemeral
 * port of the node, near what a real fleet produces.
 */
export const SESSION_IDLE_TIMEOUT_SECONDS = 3;

/** The stats listener as the bootstrap renders it by default: its port and the names its series carry. */
export const ENVOY_STATS = { port: ENVOY_DEFAULTS.metricsPort, statPrefix: ENVOY_STAT_PREFIX, clusterName: ENVOY_DECODER_CLUSTER } as const;

export function ephemeralPorts(ns: string): number {
  const [low, high] = nsExec(ns, "sysctl", ["-n", "net.ipv4.ip_local_port_range"]).trim().split(/\s+/).map(Number);
  return high - low + 1;
}

/** Sessions one stand-in worker may hold: three quarters of the per-process descriptor limit. */
export function sessionsPerWorker(): number {
  const hard = runOk("bash", ["-c", "ulimit -Hn"]).trim();
  return hard === "unlimited" ? 500_000 : Math.max(1000, Math.floor(Number(hard) * 0.75));
}

export interface Lab {
  readonly devices: number;
  readonly nodes: LabNode[];
  readonly ingressNodes: LabNode[];
  readonly gateway: LabGateway;
  /** The lab nodes with their Kilo keys. */
  readonly nodeKeys: readonly KiloNodeKeys[];
  /** Every member of the Kilo mesh now (the lab nodes, plus scenario h's joining node while it is there). */
  readonly members: KiloMember[];
  readonly api: ApiState;
  /** The API server the gateway's steering agent reads. */
  readonly cluster: LabCluster;
  readonly fleet: DeviceFleet;
  readonly decoders: Map<string, Decoder>; // by node name
  readonly envoys: Map<string, EnvoyStandin>; // by node name
  readonly plainFleet: DeviceFleet;
  readonly plainSink: Decoder;
  /** Renders the EDS file for `forNode`'s endpoints with the sidecar's function; returns its path. */
  edsFile(forNode: string, file: string): string;
}


export async function buildLab(registry: ProcessRegistry, binary: string, devices: number, log: (s: string) => void): Promise<Lab> {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const nodes = labNodes();
  const ingressNodes = nodes.filter((n) => n.ingress);
  for (const ns of [NS.fleet, NS.concentrator, NS.gateway, ...nodes.map((n) => n.ns)]) addNamespace(ns);
  buildUnderlay([UNDERLAY_GATEWAY, UNDERLAY_CONCENTRATOR, ...nodes.map((n) => ({ ns: n.ns, ip: n.publicIp, tag: `n${n.index}` }))]);
  buildFleet();
  buildPlainPath();

  const nodeKeys = nodes.map((node) => ({ node, keys: newKeys() }));
  const concentratorKeys: WireguardKeyPair = newKeys();
  const members: KiloMember[] = [...nodeKeys];
  const api = loadApiState();
  // The cluster's nodes are the lab's: same names, public addresses and pod CIDRs as the namespaces built above.
  const cluster = LabCluster.start(
    LAB_CLUSTER_DIR,
    api.nodes.items.map((node) => {
      const labNode = nodes.find((n) => n.name === node.metadata.name);
      if (labNode === undefined) throw new Error(`the API fixture's node ${node.metadata.name} is not a lab node`);
      return { name: labNode.name, pool: node.metadata.labels?.["k8s.scaleway.com/pool-name"] ?? "general", ingress: labNode.ingress, publicIp: labNode.publicIp, podCidr: labNode.podCidr };
    }),
    log,
  );
  const kubeconfig = await cluster.gatewayKubeconfig(NS.gateway);
  const gateway = new LabGateway(registry, { api: cluster, kubeconfig }, () => members, concentratorKeys.publicKey, devices, log);
  log("gateway: applying the rendered artifacts (sysctls, nftables, uplink, steering agent)");
  await gateway.start(api);
  if (gateway.skippedSysctls.length) log(`gateway: host-wide sysctls not applied inside a namespace: ${gateway.skippedSysctls.join(", ")}`);
  await buildConcentrator(registry, concentratorKeys, { publicKey: gateway.uplinkKeys.publicKey, uplinkPort: gateway.uplinkPort, routedToGateway: [`${gateway.ingressAddress}/32`] });
  for (const nk of nodeKeys) await buildNode(registry, nk, nodeKeys, gateway.kiloKeys.publicKey, [DEVICE_SUBNET]);

  const edsDir = join(STATE_DIR, "eds");
  mkdirSync(edsDir, { recursive: true });
  const edsFile = (forNode: string, file: string): string => {
    const path = join(edsDir, file);
    writeEdsFile(path, api.decoderSlices.items, forNode, DECODER_CLUSTER, DECODER_PORT_NAME);
    return path;
  };
  const decoders = new Map(nodes.map((n) => [n.name, new Decoder(binary, registry, n.podNs, n.decoderPodIp, devices)]));
  // A node's sessions are bounded by its ephemeral ports (each session socket takes one).
  const workers = Math.max(1, Math.ceil(Math.min(devices, ephemeralPorts(ingressNodes[0].ns)) / sessionsPerWorker()));
  const envoys = new Map(
    ingressNodes.map((n) => [n.name, new EnvoyStandin(binary, registry, n, gateway.ingressPort, edsFile(n.name, `${n.name}.json`), workers, SESSION_IDLE_TIMEOUT_SECONDS, ENVOY_STATS)]),
  );
  const fleet = new DeviceFleet(binary, registry, NS.fleet, devices, `${gateway.ingressAddress}:${gateway.ingressPort}`);
  const plainSink = new Decoder(binary, registry, NS.plainSink, PLAIN.sinkIp, devices);
  const plainFleet = new DeviceFleet(binary, registry, NS.plainFleet, devices, `${PLAIN.sinkIp}:${DECODER_PORT}`);

  log("warming up WireGuard sessions");
  await warmUp(fleet, decoders, devices);
  await warmUp(plainFleet, new Map([["sink", plainSink]]), devices);
  for (const e of envoys.values()) await e.stats(); // every stand-in answers: started
  return { devices, nodes, ingressNodes, gateway, nodeKeys, members, api, cluster, fleet, decoders, envoys, plainFleet, plainSink, edsFile };
}

/**
 * WireGuard handshakes and ARP first, so that measurements do not include them: a slow
 * round from a few devices through every path, until it arrives.
 */
export async function warmUp(fleet: DeviceFleet, decoders: ReadonlyMap<string, Decoder>, devices: number): Promise<void> {
  const count = Math.min(devices, 300);
  for (let attempt = 0; attempt < 10; attempt++) {
    for (const d of decoders.values()) await d.forget(0);
    await fleet.send(0, 300, count);
    const t = await settle(decoders, 0, count, 1000, 5000);
    if (t.datagrams === count) return;
  }
  throw new Error("warm-up: the data path does not deliver (see the scenario output of a previous run, or the topology)");
}

/**
 * What Kilo does to the mesh when a member joins or leaves: every member's WireGuard IP is recomputed from the sorted
 * names (plan.ts `kiloIpsByName`, after pkg/mesh/topology.go), and the lab plays kg on each node (new address and
 * peers). Used by lab scenario h and bench part 4.
 */
export function renumberKiloMembers(lab: Lab): void {
  const ips = kiloIpsByName(lab.members.map((m) => m.node.name));
  lab.members.forEach((m, i) => {
    const ip = ips.get(m.node.name)!;
    const labNode = lab.nodes.find((n) => n.name === m.node.name);
    if (labNode !== undefined) (labNode as LabNode).kiloIp = ip;
    else lab.members[i] = { node: { ...m.node, kiloIp: ip }, keys: m.keys };
  });
  for (const nk of lab.nodeKeys) resyncNode(nk, lab.members, lab.gateway.kiloKeys.publicKey, [DEVICE_SUBNET]);
}
