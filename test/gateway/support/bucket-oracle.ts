import { type SteeringTarget } from "../../../infra/gateway";
import { firstHostAddress, isIpv4Address } from "../../../infra/network";

/*
 * TypeScript oracle of the bucket assignment in infra/gateway/scripts/steering-targets.jq, for tests only: the gateway
 * decides with the jq program and nothing it renders or runs calls this. Tests check that the jq program agrees with it.
 */

// Largest prime below 2^26: squares of values below it stay under 2^53, exact in jq's and JavaScript's doubles.
const WEIGHT_PRIME = 67108859;

/** Polynomial hash of the name's code points modulo the prime (`name_hash` in the jq program). */
function nameHash(name: string, multiplier: number): number {
  let h = 0;
  for (const character of name) h = (h * multiplier + (character.codePointAt(0) ?? 0)) % WEIGHT_PRIME;
  return h;
}

/** Rendezvous weight of the node named `name` for bucket `b` (`weight` in the jq program). */
export function bucketWeight(name: string, b: number): number {
  const h1 = nameHash(name, 31);
  const h2 = nameHash(name, 257);
  let x = (h1 + (b + 1) * 1000003) % WEIGHT_PRIME;
  x = (x * x + h2 + 1) % WEIGHT_PRIME;
  x = (x * x + b + 7) % WEIGHT_PRIME;
  x = (x * x + 13) % WEIGHT_PRIME;
  return x;
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

/** The steering address of a node: the first host address of its `spec.podCIDR` (`$pod.net + 1` in the jq program). */
export function steeringAddressOfPodCidr(podCidr: string): string {
  return firstHostAddress(podCidr);
}
