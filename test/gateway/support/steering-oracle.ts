import { NAT_TABLE, STEER_CHAIN, STEER_MAP, type SteeringDecision, type SteeringTarget } from "../../../infra/gateway";
import { assignBuckets, sortTargets } from "./bucket-oracle";

/*
 * TypeScript oracle of the gateway's jq programs: what the decision (scripts/steering-targets.jq) assigns to each
 * bucket, and the transaction the agent renders from it (scripts/steering-transaction.jq). The gateway never runs
 * it; tests check that the jq programs agree with it. The bucket assignment is in
 * ./bucket-oracle.ts.
 */

export { assignBuckets, bucketWeight, steeringAddressOfPodCidr } from "./bucket-oracle";

export interface SteeringHashSettings {
  /** Number of hash buckets (the `mod` of the jhash and the size of the map). */
  readonly buckets: number;
  /** jhash seed. */
  readonly seed: number;
}

/** The targets and buckets part of the decision for these targets. */
export function steeringDecision(targets: readonly SteeringTarget[], settings: SteeringHashSettings): SteeringDecision {
  const sorted = sortTargets(targets);
  return { targets: sorted, buckets: assignBuckets(sorted, settings.buckets) };
}

/**
 * The nft transaction the agent renders for these targets. An empty target list is refused, as the agent never
 * applies one: it would silently drop every device packet.
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
