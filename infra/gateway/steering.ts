import { readGatewayScript } from "./script-files";

/*
 * Steering: the gateway spreads devices over the ingress nodes by hashing the device source address into one of a
 * fixed number of buckets (nftables `jhash ... mod B`), and a map gives each bucket one node's steering address.
 *
 * Which address. Not the node's Kilo WireGuard IP: kgctl and every kg agent allocate those afresh on each sync, in the
 * order of the segments sorted by location (squat/kilo pkg/mesh/topology.go `NewTopology`: `sort.Slice(t.segments,
 * ... location < ...)`, then `newAllocator(*subnet)` / `a.next()` per segment), and a node without an internal IP
 * (Kosmos) is its own segment `node:<name>`, so any node joining, leaving or going stale that sorts before an ingress
 * node shifts that node's IP. The steering address is the first host address of the node's `spec.podCIDR`:
 *   - Kilo puts each node's pod subnet (`spec.podCIDR`, pkg/k8s/backend.go `translateNode`) in the AllowedIPs of that
 *     node's segment in every peer config (topology.go `NewTopology`: "the node's allocated subnet"; `PeerConf`), and
 *     kgctl connect routes it through the Kilo interface (pkg/mesh/routes.go `PeerRoutes`), so the gateway's WireGuard
 *     sends it to that node by cryptokey routing, whatever Kilo IP is current. It is fixed for the node's lifetime.
 *   - The address exists on the node: Kilo's CNI config is the bridge plugin on `kube-bridge` with
 *     `isDefaultGateway: true` and host-local IPAM over the pod subnet (squat/kilo manifests/kilo-kubeadm.yaml
 *     `cni-conf.json`; pkg/mesh/cni.go `setCIDRInCNI`); the bridge plugin then puts the IPAM gateway, by default the
 *     subnet's first address, on the bridge (containernetworking/plugins plugins/main/bridge/bridge.go `cmdAdd`:
 *     `IsDefaultGW` implies `IsGW`, `ensureAddr(br, ...)`; host-local range.go `Canonicalize`: "claim .1"). The bridge
 *     gets it when the node's first pod network is set up, which a target node always has: it runs a decoder pod.
 *   - Envoy (hostNetwork) listens on 0.0.0.0, so it receives datagrams to any local address; Kilo's own iptables
 *     rules drop nothing but unknown IPIP (pkg/mesh/routes.go `Rules`, pkg/encapsulation/ipip.go).
 *
 * Buckets are assigned by rendezvous (highest random weight) hashing of the node NAME, never of an address, so when a
 * node joins or leaves only the buckets that must move do move, and renumbering moves nothing.
 *
 * Only nodes the gateway's Kilo interface routes right now are targets: the agent reads `wg show <iface>
 * allowed-ips` and a node qualifies only if the peer WireGuard would pick for its steering address (the longest
 * matching AllowedIPs prefix) has the node's public key (`kilo.squat.ai/key`). kgctl connect stops updating the
 * interface while any node lacks an endpoint (cmd/kgctl/connect_linux.go `sync`: `n.Endpoint.UDPAddr(true)` returns
 * an error for the whole sync), so a joining node may stay unrouted; the decision also reports that (`mesh`).
 *
 * The decision runs on the gateway as a jq program (scripts/steering-targets.jq), so it is tested on fixture API
 * objects with the real jq; the types below describe its output. Tests check it against a TypeScript oracle
 * (bucket-oracle.ts, test/gateway/support/steering-oracle.ts) that nothing on the gateway runs.
 */

/** A node the gateway steers to: its name (which weighs its buckets) and its steering address. */
export interface SteeringTarget {
  readonly name: string;
  readonly address: string;
}

/** What the decision found about the Kilo interface and the nodes (see scripts/mesh-status.jq). */
export interface MeshFacts {
  /** Nodes Kilo itself counts (endpoint, key, pod CIDR, seen within 60 s), by name. */
  readonly kiloNodes: readonly string[];
  /** Of those, the nodes whose steering address the Kilo interface does not route to their key. */
  readonly unrouted: readonly string[];
  /** Ingress nodes with a ready Envoy and a ready local decoder that are not steered to because they are unrouted. */
  readonly unroutedIngress: readonly string[];
  /** Nodes without a Kilo endpoint annotation: while one exists, kgctl connect does not update the interface. */
  readonly withoutEndpoint: readonly string[];
}

/** The decision: the qualifying ingress nodes (by name), the address of every bucket, and the mesh facts. */
export interface SteeringDecision {
  readonly targets: readonly SteeringTarget[];
  readonly buckets: readonly string[];
  readonly mesh?: MeshFacts;
}

/**
 * The decision program the steering agent runs (scripts/steering-targets.jq, whose header gives its input, arguments
 * and output), for whoever installs it next to an agent: the gateway's cloud-init reads the file itself when rendered.
 */
export const STEERING_TARGETS_JQ: string = readGatewayScript("steering-targets.jq");
