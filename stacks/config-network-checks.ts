import { checkClusterPlan } from "../infra/cluster";
import { resolveDecoderPlan } from "../infra/decoder";
import { problemsOf, withPaths } from "../infra/problems";
import { parseIpv4Cidr } from "../infra/network";
import { isScalewayRegistryImage } from "../components/registry-host";
import { gatewayHostProblems } from "../components/wireguard-gateway";
import { ingressNodes, isExistingCluster, type ParsedStackConfig } from "./config-schema";
import { envoyConfigProblems } from "./envoy-config";
import { gatewayConfigProblems } from "./gateway-config";

/** One problem found in a config, with the config key path it belongs to. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

type Section = keyof ParsedStackConfig;

/** A rule over several keys, and the top-level sections it reads. */
interface CrossCheck {
  readonly needs: readonly Section[];
  readonly run: (config: ParsedStackConfig) => ConfigProblem[];
}

/**
 * Checks that need more than one key. Most rules belong to a component's plan (the gateway's address plan and
 * concentrator routing: infra/gateway/plan.ts) and are run here through it, so the stack reports them at its config
 * keys without a second copy; what stays here is the stack's own policy and the cluster's pools.
 */
const CROSS_CHECKS: readonly CrossCheck[] = [
  { needs: ["cluster"], run: clusterPlanProblems },
  { needs: ["cluster"], run: autoscalingBoundsProblems },
  { needs: ["cluster"], run: untaintedPoolProblems },
  { needs: ["devices", "cluster", "gateway", "ingress"], run: gatewayConfigProblems },
  { needs: ["gateway"], run: gatewayHostConfigProblems },
  { needs: ["cluster", "decoder"], run: decoderPlacementProblems },
  { needs: ["decoder"], run: imagePullProblems },
  { needs: ["devices", "cluster", "ingress"], run: envoyConfigProblems },
  { needs: ["ingress", "decoder"], run: namespaceProblems },
  { needs: ["devices", "decoder"], run: decoderEgressConfigProblems },
  { needs: ["gateway"], run: gatewayAccessProblems },
];

/**
 * Runs every cross-key check whose sections are present. A config that failed its schema passes only the sections
 * that are valid on their own, so the checks that can still run do.
 */
export function crossCheckStackConfig(config: Partial<ParsedStackConfig>): ConfigProblem[] {
  const problems = CROSS_CHECKS.flatMap((check) =>
    check.needs.every((section) => config[section] !== undefined) ? check.run(config as ParsedStackConfig) : [],
  );
  // A rule shared by several plans (the device subnets' own, infra/network/device-subnets.ts) is reported once.
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.path}\n${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The cluster's own rules (infra/cluster/plan.ts): address plan, upgrade policy, pools; at `cluster.*`. */
function clusterPlanProblems(config: ParsedStackConfig): ConfigProblem[] {
  const cluster = config.cluster;
  const created = isExistingCluster(cluster)
    ? {}
    : { kubernetesVersion: cluster.kubernetesVersion, autoUpgrade: cluster.autoUpgrade, generalPools: cluster.generalPools, externalPools: cluster.externalPools };
  return withPaths(problemsOf(() => checkClusterPlan({ podCidr: cluster.podCidr, serviceCidr: cluster.serviceCidr, ...created })), {}, "cluster");
}

/** The stack's policy: an autoscaling pool states its bounds rather than taking Scaleway's. */
function autoscalingBoundsProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (isExistingCluster(config.cluster)) return [];
  return config.cluster.generalPools.flatMap((pool, index) =>
    pool.autoscaling && (pool.minSize === undefined || pool.maxSize === undefined)
      ? [{ path: `cluster.generalPools[${index}]`, message: "autoscaling needs minSize and maxSize" }]
      : [],
  );
}

/** The decoder plan's egress rules (infra/decoder/plan.ts), reported at the config keys. */
function decoderEgressConfigProblems(config: ParsedStackConfig): ConfigProblem[] {
  const plan = () => resolveDecoderPlan({ egress: config.decoder.egress, deviceSubnets: config.devices.subnets });
  return withPaths(problemsOf(plan), { egress: "decoder.egress" }, "decoder");
}

/**
 * Each component creates its own namespace, so one namespace for both would be two owners of one object (the
 * second create fails on a real cluster); the gateway's Roles in the two namespaces would collide the same way.
 */
function namespaceProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (config.ingress.namespace !== config.decoder.namespace) return [];
  return [
    {
      path: "decoder.namespace",
      message: `must differ from ingress.namespace ("${config.ingress.namespace}"): Envoy and the decoders each own their namespace`,
    },
  ];
}

function decoderPlacementProblems(config: ParsedStackConfig): ConfigProblem[] {
  const nodes = ingressNodes(config.cluster);
  if (config.decoder.replicas >= nodes.count) return [];
  return [
    {
      path: "decoder.replicas",
      message:
        `${config.decoder.replicas} is below ${nodes.path} (${nodes.count}): ` +
        "every ingress node needs a local decoder, or the gateway cannot steer devices to it",
    },
  ];
}

/** The component's rule that the VM's keys do not go with `gateway.externalHost`, at the config's keys. */
function gatewayHostConfigProblems(config: ParsedStackConfig): ConfigProblem[] {
  return gatewayHostProblems(config.gateway).map((problem) => ({ path: `gateway.${problem.path}`, message: problem.message }));
}

/** The smallest admin network we accept for SSH; anything wider is the internet in practice. */
const WIDEST_ADMIN_PREFIX = 8;

function gatewayAccessProblems(config: ParsedStackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.gateway.adminCidrs.forEach((cidr, index) => {
    if (parseIpv4Cidr(cidr).prefixLength < WIDEST_ADMIN_PREFIX) {
      problems.push({
        path: `gateway.adminCidrs[${index}]`,
        message: `${cidr} would open SSH to (nearly) the whole internet; give the admin networks, at most /${WIDEST_ADMIN_PREFIX} wide`,
      });
    }
  });
  config.gateway.uplink.concentrators.forEach((concentrator, index) => {
    concentrator.sourceCidrs.forEach((cidr, cidrIndex) => {
      if (parseIpv4Cidr(cidr).prefixLength < WIDEST_ADMIN_PREFIX) {
        problems.push({
          path: `gateway.uplink.concentrators[${index}].sourceCidrs[${cidrIndex}]`,
          message: `${cidr} is too wide for a concentrator's address; give its public addresses`,
        });
      }
    });
  });
  return problems;
}

/**
 * The stack's policy (a component user may run the add-ons elsewhere): the ingress pool is tainted for Envoy and the
 * decoders, and external pools have no nodes until machines join, so cluster add-ons (CoreDNS, metrics, Kilo's own)
 * need a general pool that always has a node, or they stay Pending. An existing cluster's pools are not ours to check.
 */
function untaintedPoolProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (isExistingCluster(config.cluster)) return [];
  const alwaysHasNodes = config.cluster.generalPools.some((pool) => pool.size >= 1 && (!pool.autoscaling || (pool.minSize ?? 0) >= 1));
  if (alwaysHasNodes) return [];
  return [
    {
      path: "cluster.generalPools",
      message:
        "expected at least one general pool with size >= 1 (and minSize >= 1 if it autoscales): the ingress pool " +
        "carries a NoSchedule taint and external pools start empty, so CoreDNS and other cluster add-ons would " +
        "have no node to run on",
    },
  ];
}

/** `decoder.imagePullCredentials: scaleway` only makes sense for an image in a Scaleway registry. */
function imagePullProblems(config: ParsedStackConfig): ConfigProblem[] {
  const { image, imagePullCredentials } = config.decoder;
  if (imagePullCredentials === "scaleway" && !isScalewayRegistryImage(image)) {
    return [
      {
        path: "decoder.imagePullCredentials",
        message: `is scaleway, but decoder.image (${image}) is not in a Scaleway registry (rg.<region>.scw.cloud)`,
      },
    ];
  }
  return [];
}
