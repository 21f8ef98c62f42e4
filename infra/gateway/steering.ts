import { firstHostAddress, isIpv4Address } from "../network";
import { NAT_TABLE, STEER_CHAIN, STEER_MAP } from "./nftables";

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
 * The decision runs on the gateway as a jq program (STEERING_TARGETS_JQ), so it is tested on fixture API objects with
 * the real jq; the TypeScript functions below mirror the bucket assignment and are tested to agree with it.
 */

/** A node the gateway steers to: its name (which weighs its buckets) and its steering address. */
export interface SteeringTarget {
  readonly name: string;
  readonly address: string;
}

/** What the decision found about the Kilo interface and the nodes (see `MESH_STATUS_JQ`). */
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

export interface SteeringHashSettings {
  /** Number of hash buckets (the `mod` of the jhash and the size of the map). */
  readonly buckets: number;
  /** jhash seed. */
  readonly seed: number;
}

// Largest prime below 2^26: squares of values below it stay under 2^53, exact in jq's and JavaScript's doubles.
const WEIGHT_PRIME = 67108859;

/** Polynomial hash of the name's code points modulo the prime (mirrors `name_hash` in the jq program). */
export function nameHash(name: string, multiplier: number): number {
  let h = 0;
  for (const character of name) h = (h * multiplier + (character.codePointAt(0) ?? 0)) % WEIGHT_PRIME;
  return h;
}

/** Rendezvous weight of the node named `name` for bucket `b` (mirrors `weight` in the jq program). */
export function bucketWeight(name: string, b: number): number {
  const h1 = nameHash(name, 31);
  const h2 = nameHash(name, 257);
  let x = (h1 + (b + 1) * 1000003) % WEIGHT_PRIME;
  x = (x * x + h2 + 1) % WEIGHT_PRIME;
  x = (x * x + b + 7) % WEIGHT_PRIME;
  x = (x * x + 13) % WEIGHT_PRIME;
  return x;
}

/** Assigns each bucket the target with the highest weight (ties: the lowest name); returns its address. */
export function assignBuckets(targets: readonly SteeringTarget[], buckets: number): string[] {
  const nodes = sortTargets(targets);
  if (nodes.length === 0) return [];
  return Array.from({ length: buckets }, (_, b) => {
    let best = nodes[0];
    let bestWeight = bucketWeight(best.name, b);
    for (const node of nodes.slice(1)) {
      const weight = bucketWeight(node.name, b);
      if (weight > bestWeight || (weight === bestWeight && node.name < best.name)) {
        best = node;
        bestWeight = weight;
      }
    }
    return best.address;
  });
}

/** Unique targets by name (code point order, as jq sorts); throws on an address that is not IPv4 or a name used twice. */
export function sortTargets(targets: readonly SteeringTarget[]): SteeringTarget[] {
  const byName = new Map<string, SteeringTarget>();
  for (const target of targets) {
    if (!isIpv4Address(target.address)) throw new Error(`steering target ${JSON.stringify(target.address)} is not an IPv4 address`);
    const seen = byName.get(target.name);
    if (seen !== undefined && seen.address !== target.address) throw new Error(`node ${target.name} has two steering addresses`);
    byName.set(target.name, target);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function steeringDecision(targets: readonly SteeringTarget[], settings: SteeringHashSettings): SteeringDecision {
  const sorted = sortTargets(targets);
  return { targets: sorted, buckets: assignBuckets(sorted, settings.buckets) };
}

/** The steering address of a node: the first host address of its `spec.podCIDR` (see the comment above). */
export function steeringAddressOfPodCidr(podCidr: string): string {
  return firstHostAddress(podCidr);
}

/**
 * One `nft -f` transaction that replaces the steering rule and map together: the chain and the map are flushed and
 * refilled in the same transaction, so no packet ever sees an empty map or a rule whose modulus disagrees with it.
 * Mirrors `render_transaction` of the steering agent. An empty target list is refused: it would silently drop
 * every device packet (see the agent's fail-static rule).
 */
export function renderSteeringUpdate(targets: readonly SteeringTarget[], settings: SteeringHashSettings): string {
  const decision = steeringDecision(targets, settings);
  if (decision.targets.length === 0) {
    throw new Error("refusing to render a steering map without targets: it would drop every device packet");
  }
  const elements = decision.buckets.map((ip, bucket) => `${bucket} : ${ip}`).join(", ");
  return [
    `flush chain ip ${NAT_TABLE} ${STEER_CHAIN}`,
    `flush map ip ${NAT_TABLE} ${STEER_MAP}`,
    `add element ip ${NAT_TABLE} ${STEER_MAP} { ${elements} }`,
    `add rule ip ${NAT_TABLE} ${STEER_CHAIN} dnat to jhash ip saddr mod ${decision.buckets.length} seed ${settings.seed} map @${STEER_MAP}`,
    "",
  ].join("\n");
}

/**
 * The decision program run by the steering agent.
 * Input: `{"nodes": NodeList, "envoyPods": PodList, "decoderSlices": EndpointSliceList}` (kubectl `-o json`).
 * Arguments: `--arg labelKey`, `--arg labelValue` (ingress pool label), `--arg decoderService`, `--argjson buckets`,
 * `--rawfile routes` (the output of `wg show <kilo iface> allowed-ips`: one line per peer, its base64 public key, a
 * tab, and its AllowedIPs separated by spaces or `(none)`), `--argjson now` (Unix seconds, for Kilo's 60 s node
 * freshness).
 * Output: a SteeringDecision. A node is a target when it carries the ingress pool label, is Ready and not being
 * deleted, has a Ready Envoy pod and at least one ready endpoint of the decoder Service, a `spec.podCIDR`, and the
 * Kilo interface routes the pod CIDR's first address to the node's `kilo.squat.ai/key`.
 */
export const STEERING_TARGETS_JQ = String.raw`# Steering decision of the IoT gateway (see infra/gateway/steering.ts).
def ipv4_re: "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
def ipv4_int: split(".") | map(tonumber) | .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3];
def int_ipv4: [(. / 16777216 | floor), (. / 65536 | floor) % 256, (. / 256 | floor) % 256, . % 256] | map(tostring) | join(".");
# "a.b.c.d/n" -> {net, len} with the host bits cleared (as Go's net.ParseCIDR does), or null.
def cidr:
  if type == "string" and test("^" + ipv4_re + "/([0-9]|[12][0-9]|3[0-2])$") then
    split("/") | (.[1] | tonumber) as $len | (.[0] | ipv4_int) as $n | pow(2; 32 - $len) as $size
    | {net: ($n - ($n % $size)), len: $len}
  else null end;
def covers($a): .net <= $a and $a < .net + pow(2; 32 - .len);
def condition_true($type): any(.status.conditions[]?; .type == $type and .status == "True");
# EndpointSlice semantics: a missing ready condition means ready.
def endpoint_ready: .conditions.ready | if . == null then true else . == true end;
# Rendezvous weight of a node name for bucket $b: polynomial hashes of its code points modulo a prime below 2^26, then
# squarings modulo the prime; every intermediate value stays below 2^53, so jq's doubles are exact.
def name_hash($m): reduce explode[] as $c (0; (. * $m + $c) % 67108859);
def weight($h1; $h2; $b):
  67108859 as $p
  | (($h1 + ($b + 1) * 1000003) % $p)
  | ((. * . + $h2 + 1) % $p)
  | ((. * . + $b + 7) % $p)
  | ((. * . + 13) % $p);

# The Kilo interface's peers: [{key, cidrs: [{net, len}]}].
([$routes | split("\n")[] | select(length > 0) | split("\t") | select(length == 2)
  | {key: .[0], cidrs: [.[1] | split(" ")[] | cidr | select(. != null)]}]) as $peers
# The key of the peer WireGuard sends address $a to: the longest matching AllowedIPs prefix wins.
| def routed_key($a): [$peers[] | .key as $k | .cidrs[] | select(covers($a)) | {key: $k, len}] | max_by(.len) | .key?;
([.envoyPods.items[]?
  | select(.metadata.deletionTimestamp == null and condition_true("Ready"))
  | .spec.nodeName | strings] | unique) as $envoy_nodes
| ([.decoderSlices.items[]?
  | select(.metadata.labels["kubernetes.io/service-name"] == $decoderService)
  | .endpoints[]?
  | select(endpoint_ready)
  | .nodeName | strings] | unique) as $decoder_nodes
| [.nodes.items[]?
  | (.metadata.annotations // {}) as $a
  | (.spec.podCIDR | cidr) as $pod
  | {
      name: .metadata.name,
      key: ($a["kilo.squat.ai/key"] // ""),
      address: (if $pod != null and $pod.len <= 30 then $pod.net + 1 else null end),
      endpoint: (($a["kilo.squat.ai/force-endpoint"] // $a["kilo.squat.ai/endpoint"] // "") != ""),
      seen: ($a["kilo.squat.ai/last-seen"] // "" | tonumber? // 0),
      ingress: (.metadata.labels[$labelKey] == $labelValue),
      ready: (.metadata.deletionTimestamp == null and condition_true("Ready")),
      serving: (.metadata.name as $name | any($envoy_nodes[]; . == $name) and any($decoder_nodes[]; . == $name))
    }
  | .routed = (.address != null and .key != "" and (routed_key(.address) == .key))] as $nodes
# Kilo counts a node with an endpoint, a key and a pod subnet, seen in the last 60 s (pkg/mesh/backend.go Node.Ready).
| [$nodes[] | select(.endpoint and .key != "" and .address != null and ($now - .seen) < 60)] as $kilo_nodes
| ([$nodes[] | select(.ingress and .ready and .serving and .address != null)]) as $serving
| ([$serving[] | select(.routed) | {name, address: (.address | int_ipv4)}] | unique_by(.name)) as $targets
| {
    targets: $targets,
    buckets: (if ($targets | length) == 0 then [] else
      ($targets | map(. + {h1: (.name | name_hash(31)), h2: (.name | name_hash(257))})) as $weighted
      | [range(0; $buckets) as $b
        | $weighted | map(.w = weight(.h1; .h2; $b)) | sort_by([-.w, .name]) | first | .address]
    end),
    mesh: {
      kiloNodes: [$kilo_nodes[].name] | sort,
      unrouted: [$kilo_nodes[] | select(.routed | not) | .name] | sort,
      unroutedIngress: [$serving[] | select(.routed | not) | .name] | sort,
      withoutEndpoint: [$nodes[] | select(.endpoint | not) | .name] | sort
    }
  }
`;

/**
 * Turns the decision's mesh facts (stdin) into the gateway's mesh status, which the agent writes to its state file
 * and reports: a node Kilo counts that the Kilo interface does not route is "pending" until it has been so for
 * `staleAfter` seconds, then "stale". Arguments: `--slurpfile previous` (the previous status, or nothing),
 * `--argjson now`, `--argjson staleAfter`, `--arg iface`. `syncedAt` is the last time every node was routed.
 */
export const MESH_STATUS_JQ = String.raw`(($previous | first) // {}) as $p
| ($p.unroutedSince // {}) as $was
| ([.unrouted[] | {key: ., value: ($was[.] // $now)}] | from_entries) as $since
| [$since | to_entries[] | select($now - .value >= $staleAfter) | .key] as $stale
| (if (.unrouted | length) == 0 then $now else ($p.syncedAt // null) end) as $synced
| {
    state: (if ($stale | length) > 0 then "stale" elif (.unrouted | length) > 0 then "pending" else "synced" end),
    checkedAt: $now,
    syncedAt: $synced,
    unroutedSince: $since,
    unrouted: .unrouted,
    unroutedIngress: .unroutedIngress,
    withoutEndpoint: .withoutEndpoint,
    message: (if ($stale | length) == 0 then null else
      "stale mesh config: nodes \($stale | join(",")) are not routed by \($iface) (for \([$stale[] | $now - $since[.]] | max) s; "
      + (if $synced == null then "not in sync since the agent started" else "every node was routed at \($synced | todate)" end)
      + ")"
      + (if (.unroutedIngress | length) > 0 then "; ready ingress nodes left out of steering: \(.unroutedIngress | join(","))" else "" end)
      + (if (.withoutEndpoint | length) > 0 then "; nodes without a Kilo endpoint, which stop kgctl connect from syncing: \(.withoutEndpoint | join(","))" else "" end)
    end)
  }
`;

/**
 * Renders a SteeringDecision (stdin) as the nft transaction; the agent's copy of `renderSteeringUpdate`.
 * Arguments: `--arg table`, `--arg chain`, `--arg map`, `--argjson seed`.
 */
export const STEERING_TRANSACTION_JQ = String.raw`"flush chain ip \($table) \($chain)",
"flush map ip \($table) \($map)",
"add element ip \($table) \($map) { \([.buckets | to_entries[] | "\(.key) : \(.value)"] | join(", ")) }",
"add rule ip \($table) \($chain) dnat to jhash ip saddr mod \(.buckets | length) seed \($seed) map @\($map)"
`;
