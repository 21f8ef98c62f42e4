import { isIpv4Address, ipv4ToInt } from "../network";
import { NAT_TABLE, STEER_CHAIN, STEER_MAP } from "./nftables";

/*
 * Steering: the gateway spreads devices over the ingress nodes by hashing the device source address into one of a
 * fixed number of buckets (nftables `jhash ... mod B`), and a map gives each bucket a node's Kilo IP. Buckets are
 * assigned by rendezvous (highest random weight) hashing, so when a node joins or leaves only the buckets that must
 * move do move: a leaving node's buckets spread over the others, a joining node takes about 1/n of them, and every
 * other device keeps its node (its Envoy session and decoder).
 *
 * The decision runs on the gateway as a jq program (STEERING_TARGETS_JQ), so it can be tested on fixture API
 * objects with the real jq; the TypeScript functions below mirror it for the lab and are tested to agree with it.
 */

/** The decision: the qualifying ingress nodes' Kilo IPs (ascending) and the node of every bucket. */
export interface SteeringDecision {
  readonly targets: readonly string[];
  readonly buckets: readonly string[];
}

export interface SteeringHashSettings {
  /** Number of hash buckets (the `mod` of the jhash and the size of the map). */
  readonly buckets: number;
  /** jhash seed. */
  readonly seed: number;
}

// Largest prime below 2^26: squares of values below it stay under 2^53, exact in jq's and JavaScript's doubles.
const WEIGHT_PRIME = 67108859;

/** Rendezvous weight of the node at integer address `n` for bucket `b` (mirrors `weight` in the jq program). */
export function bucketWeight(n: number, b: number): number {
  let x = ((n % WEIGHT_PRIME) + (b + 1) * 1000003) % WEIGHT_PRIME;
  x = (x * x + Math.floor(n / WEIGHT_PRIME) + 1) % WEIGHT_PRIME;
  x = (x * x + b + 7) % WEIGHT_PRIME;
  x = (x * x + 13) % WEIGHT_PRIME;
  return x;
}

/** Assigns each bucket the target with the highest weight (ties: the lowest address). */
export function assignBuckets(targets: readonly string[], buckets: number): string[] {
  const nodes = sortTargets(targets).map((ip) => ({ ip, n: ipv4ToInt(ip) }));
  if (nodes.length === 0) return [];
  return Array.from({ length: buckets }, (_, b) => {
    let best = nodes[0];
    let bestWeight = bucketWeight(best.n, b);
    for (const node of nodes.slice(1)) {
      const weight = bucketWeight(node.n, b);
      if (weight > bestWeight || (weight === bestWeight && node.n < best.n)) {
        best = node;
        bestWeight = weight;
      }
    }
    return best.ip;
  });
}

/** Unique targets in ascending numeric order; throws on anything that is not an IPv4 address. */
export function sortTargets(targets: readonly string[]): string[] {
  for (const target of targets) {
    if (!isIpv4Address(target)) throw new Error(`steering target ${JSON.stringify(target)} is not an IPv4 address`);
  }
  return [...new Set(targets)].sort((a, b) => ipv4ToInt(a) - ipv4ToInt(b));
}

export function steeringDecision(targets: readonly string[], settings: SteeringHashSettings): SteeringDecision {
  const sorted = sortTargets(targets);
  return { targets: sorted, buckets: assignBuckets(sorted, settings.buckets) };
}

/**
 * One `nft -f` transaction that replaces the steering rule and map together: the chain and the map are flushed and
 * refilled in the same transaction, so no packet ever sees an empty map or a rule whose modulus disagrees with it.
 * Mirrors `render_transaction` of the steering agent. An empty target list is refused: it would silently drop
 * every device packet (see the agent's fail-static rule).
 */
export function renderSteeringUpdate(targets: readonly string[], settings: SteeringHashSettings): string {
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
 * Arguments: `--arg labelKey`, `--arg labelValue` (ingress pool label), `--arg decoderService`, `--argjson buckets`.
 * Output: a SteeringDecision. A node is a target when it carries the ingress pool label, is Ready, has a
 * `kilo.squat.ai/wireguard-ip` annotation, a Ready Envoy pod and at least one ready endpoint of the decoder Service.
 */
export const STEERING_TARGETS_JQ = String.raw`# Steering decision of the IoT gateway (see infra/gateway/steering.ts).
def is_ipv4: test("^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$");
def ipv4_int: split(".") | map(tonumber) | .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3];
def condition_true($type): any(.status.conditions[]?; .type == $type and .status == "True");
# EndpointSlice semantics: a missing ready condition means ready.
def endpoint_ready: .conditions.ready | if . == null then true else . == true end;
# Rendezvous weight of node address $n for bucket $b; every product stays below 2^53, so doubles are exact.
def weight($n; $b):
  67108859 as $p
  | ((($n % $p) + ($b + 1) * 1000003) % $p)
  | ((. * . + ($n / $p | floor) + 1) % $p)
  | ((. * . + $b + 7) % $p)
  | ((. * . + 13) % $p);

([.envoyPods.items[]?
  | select(.metadata.deletionTimestamp == null and condition_true("Ready"))
  | .spec.nodeName | strings] | unique) as $envoy_nodes
| ([.decoderSlices.items[]?
  | select(.metadata.labels["kubernetes.io/service-name"] == $decoderService)
  | .endpoints[]?
  | select(endpoint_ready)
  | .nodeName | strings] | unique) as $decoder_nodes
| ([.nodes.items[]?
  | select(.metadata.labels[$labelKey] == $labelValue)
  | select(.metadata.deletionTimestamp == null and condition_true("Ready"))
  | select(.metadata.name as $name | any($envoy_nodes[]; . == $name) and any($decoder_nodes[]; . == $name))
  | .metadata.annotations["kilo.squat.ai/wireguard-ip"] | strings | split("/")[0]
  | select(is_ipv4)]
  | unique_by(ipv4_int)) as $targets
| {
    targets: $targets,
    buckets: (if ($targets | length) == 0 then [] else
      [range(0; $buckets) as $b
        | $targets | map({ip: ., n: ipv4_int}) | map(.w = weight(.n; $b))
        | sort_by([.w, -.n]) | last | .ip]
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
