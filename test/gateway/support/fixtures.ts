import { createHash } from "crypto";
import { encodeKey } from "../../../infra/wireguard";

/** Kubernetes API objects as `kubectl get -o json` returns them, reduced to the fields the decision reads. */

export const INGRESS_LABEL = { key: "iot-udp-ingress/role", value: "ingress" };
export const DECODER_SERVICE = "decoder";
/** "Now" of the fixtures (Unix seconds); nodes were last seen 10 s before. */
export const NOW = 1_800_000_000;

/** The WireGuard public key kg would publish for a node (`kilo.squat.ai/key`): fixed per name. */
export function nodeKey(name: string): string {
  return encodeKey(createHash("sha256").update(`node-key-${name}`).digest());
}

export interface NodeSpec {
  readonly name: string;
  /** `spec.podCIDR`; omitted: none (a node Kubernetes has not given a subnet yet). */
  readonly podCidr?: string;
  /** Kilo annotation value, e.g. `10.4.0.1/16`; omitted: no annotation. */
  readonly kiloIp?: string;
  /** `kilo.squat.ai/key`; default `nodeKey(name)`, null: none. */
  readonly key?: string | null;
  /** `kilo.squat.ai/endpoint`; default a public address, null: none (a node kg has not annotated yet). */
  readonly endpoint?: string | null;
  /** `kilo.squat.ai/last-seen`; default NOW - 10. */
  readonly lastSeen?: number;
  readonly ingress?: boolean;
  readonly ready?: boolean;
}

export function node(spec: NodeSpec): object {
  const annotations: Record<string, string> = { "kilo.squat.ai/last-seen": String(spec.lastSeen ?? NOW - 10) };
  const key = spec.key === undefined ? nodeKey(spec.name) : spec.key;
  if (key !== null) annotations["kilo.squat.ai/key"] = key;
  const endpoint = spec.endpoint === undefined ? "203.0.113.50:51820" : spec.endpoint;
  if (endpoint !== null) annotations["kilo.squat.ai/endpoint"] = endpoint;
  if (spec.kiloIp !== undefined) annotations["kilo.squat.ai/wireguard-ip"] = spec.kiloIp;
  return {
    kind: "Node",
    metadata: {
      name: spec.name,
      labels: spec.ingress === false ? { "kubernetes.io/hostname": spec.name } : { [INGRESS_LABEL.key]: INGRESS_LABEL.value },
      annotations,
    },
    spec: spec.podCidr === undefined ? {} : { podCIDR: spec.podCidr, podCIDRs: [spec.podCidr] },
    status: { conditions: [{ type: "Ready", status: spec.ready === false ? "False" : "True" }] },
  };
}

export function envoyPod(nodeName: string, ready = true, deleting = false): object {
  return {
    kind: "Pod",
    metadata: { name: `envoy-${nodeName}`, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec: { nodeName },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

export interface EndpointSpec {
  readonly nodeName: string;
  /** Omitted: no `ready` condition, which EndpointSlice semantics read as ready. */
  readonly ready?: boolean;
}

export function decoderSlice(endpoints: readonly EndpointSpec[], service = DECODER_SERVICE): object {
  return {
    kind: "EndpointSlice",
    metadata: { name: `${service}-abc`, labels: { "kubernetes.io/service-name": service } },
    endpoints: endpoints.map((endpoint, i) => ({
      addresses: [`100.64.${i}.10`],
      nodeName: endpoint.nodeName,
      conditions: endpoint.ready === undefined ? {} : { ready: endpoint.ready },
    })),
  };
}

/** One peer of the Kilo interface as `wg show <iface> allowed-ips` prints it. */
export interface WgPeer {
  readonly key: string;
  readonly allowedIps: readonly string[];
}

/** `wg show <iface> allowed-ips` output (wireguard-tools src/show.c): key, a tab, the prefixes or `(none)`. */
export function wgAllowedIps(peers: readonly WgPeer[]): string {
  return peers.map((peer) => `${peer.key}\t${peer.allowedIps.length === 0 ? "(none)" : peer.allowedIps.join(" ")}\n`).join("");
}

export interface ApiState {
  readonly nodes: readonly object[];
  readonly envoyPods: readonly object[];
  readonly decoderSlices: readonly object[];
  /** What the Kilo interface routes: the peers kgctl connect configured. */
  readonly peers: readonly WgPeer[];
}

export function apiLists(state: ApiState): { nodes: object; pods: object; slices: object } {
  return {
    nodes: { kind: "NodeList", apiVersion: "v1", items: state.nodes },
    pods: { kind: "PodList", apiVersion: "v1", items: state.envoyPods },
    slices: { kind: "EndpointSliceList", apiVersion: "discovery.k8s.io/v1", items: state.decoderSlices },
  };
}

/** The peer kgctl connect configures for a node that is its own segment: pod CIDR + Kilo IP (topology.go `PeerConf`). */
export function nodePeer(name: string, podCidr: string, kiloIp: string): WgPeer {
  return { key: nodeKey(name), allowedIps: [podCidr, `${kiloIp}/32`] };
}

/**
 * Healthy ingress nodes `ingress-1..n`: labelled, Ready, annotated by Kilo, with pod CIDR 100.64.i.0/24, a Ready Envoy,
 * a ready local decoder, and routed by the Kilo interface (a peer with their key and pod CIDR).
 */
export function healthyNodes(count: number, lastSeen = NOW - 10): ApiState {
  const names = Array.from({ length: count }, (_, i) => `ingress-${i + 1}`);
  return {
    nodes: names.map((name, i) => node({ name, podCidr: `100.64.${i + 1}.0/24`, kiloIp: `10.4.0.${i + 1}/16`, lastSeen })),
    envoyPods: names.map((name) => envoyPod(name)),
    decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName, ready: true })))],
    peers: names.map((name, i) => nodePeer(name, `100.64.${i + 1}.0/24`, `10.4.0.${i + 1}`)),
  };
}
