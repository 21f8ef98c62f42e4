import { KILO_SUBNET, cidrsOverlap, parseIpv4Cidr } from "../network";
import { Problems } from "../problems";

/*
 * The rules of a Kosmos cluster's shape that the Scaleway provider or the scheduler would otherwise only reveal after
 * `pulumi up` has started: the address plan, the pools, the upgrade policy. KosmosCluster checks its args with it and
 * the stack its config, each at its own keys. Values a caller passes as Pulumi outputs are unknown here and skipped.
 */

/** The pool that runs Envoy and the decoders (KosmosCluster's `INGRESS_POOL_NAME`): its name is taken. */
export const CLUSTER_INGRESS_POOL_NAME = "ingress";
/** `maxSize` of an external pool when none is given: the smallest one the provider accepts. */
export const DEFAULT_EXTERNAL_POOL_MAX_SIZE = 1;

export interface ClusterPlanInput {
  /** `x.y` or `x.y.z`; undefined when not known yet. */
  readonly kubernetesVersion?: string;
  readonly autoUpgrade?: { readonly enabled: boolean };
  readonly podCidr?: string;
  readonly serviceCidr?: string;
  /** The pools the cluster is created with; undefined for a cluster that exists already (its pools are not ours). */
  readonly generalPools?: ReadonlyArray<{
    readonly name: string;
    readonly size?: number;
    readonly autoscaling?: boolean;
    readonly minSize?: number;
    readonly maxSize?: number;
  }>;
  readonly externalPools?: ReadonlyArray<{ readonly name: string; readonly maxSize?: number }>;
}

/** Checks the cluster's shape; throws a PlanError with every problem at the input's key paths. */
export function checkClusterPlan(input: ClusterPlanInput): void {
  const problems = new Problems();
  const ranges = [
    { path: "podCidr", cidr: input.podCidr },
    { path: "serviceCidr", cidr: input.serviceCidr },
  ].filter((range): range is { path: string; cidr: string } => range.cidr !== undefined && problems.attempt(range.path, () => parseIpv4Cidr(range.cidr as string)) !== undefined);
  const [pod, service] = ranges.length === 2 ? ranges : [undefined, undefined];
  if (pod !== undefined && service !== undefined && cidrsOverlap(pod.cidr, service.cidr)) {
    problems.add("serviceCidr", `${service.cidr} overlaps the pod CIDR (${pod.cidr})`);
  }
  // Kilo gives its WireGuard interfaces addresses from this subnet on every node (Kosmos fixes it).
  for (const range of ranges) {
    if (cidrsOverlap(range.cidr, KILO_SUBNET)) problems.add(range.path, `${range.cidr} overlaps the Kilo subnet ${KILO_SUBNET}`);
  }

  // Scaleway's auto-upgrade follows a minor version; a patch version pins what the upgrade would move.
  if (input.autoUpgrade?.enabled === true && input.kubernetesVersion !== undefined && !/^\d+\.\d+$/.test(input.kubernetesVersion)) {
    problems.add("kubernetesVersion", `with autoUpgrade.enabled the version must be a minor version x.y, not ${input.kubernetesVersion}`);
  }

  if (input.generalPools !== undefined) poolProblems(problems, input.generalPools, input.externalPools ?? []);
  problems.throwIfAny("cluster");
}

function poolProblems(problems: Problems, generalPools: NonNullable<ClusterPlanInput["generalPools"]>, externalPools: NonNullable<ClusterPlanInput["externalPools"]>): void {
  generalPools.forEach((pool, i) => {
    if (pool.minSize !== undefined && pool.maxSize !== undefined && pool.minSize > pool.maxSize) {
      problems.add(`generalPools[${i}].minSize`, "must not exceed maxSize");
    }
  });
  externalPools.forEach((pool, i) => {
    // The provider sets an unset max_size to the size (0 for an external pool) and rejects one below 1.
    if (pool.maxSize !== undefined && (!Number.isInteger(pool.maxSize) || pool.maxSize < 1)) {
      problems.add(`externalPools[${i}].maxSize`, `must be a whole number >= 1 (got ${pool.maxSize}): the Scaleway provider rejects an external pool whose max size is below 1`);
    }
  });
  const names = [CLUSTER_INGRESS_POOL_NAME, ...generalPools.map((pool) => pool.name), ...externalPools.map((pool) => pool.name)];
  names.forEach((name, i) => {
    if (names.indexOf(name) === i) return;
    const at = i <= generalPools.length ? `generalPools[${i - 1}].name` : `externalPools[${i - 1 - generalPools.length}].name`;
    problems.add(at, `pool name "${name}" is used twice`);
  });
}
