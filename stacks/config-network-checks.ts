import { decoderEgressProblems } from "../components/decoder-deployment";
import { SessionSizingError, sizeEnvoySessions } from "../infra/envoy";
import { cidrContainsAddress, cidrsOverlap, KILO_SUBNET, parseIpv4Cidr } from "../infra/network";
import { isScalewayRegistryImage } from "../components/registry-host";
import { ingressNodes, isExistingCluster, type KosmosClusterConfig, type ParsedStackConfig } from "./config-schema";

/** One problem found in a config, with the config key path it belongs to. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

interface NamedRange {
  readonly path: string;
  readonly cidr: string;
  readonly what: string;
}

type Section = keyof ParsedStackConfig;

/** A rule over several keys, and the top-level sections it reads. */
interface CrossCheck {
  readonly needs: readonly Section[];
  readonly run: (config: ParsedStackConfig) => ConfigProblem[];
}

/**
 * Checks that need more than one key: address plans that would break routing, and sizes that depend on each
 * other. A device subnet that overlaps a cluster range would make Kilo route device replies into the cluster (or
 * the other way round), and WireGuard would silently drop packets; these are the mistakes that are costly to find
 * after deployment. A problem between two keys is reported at one and names the other.
 */
const CROSS_CHECKS: readonly CrossCheck[] = [
  { needs: ["cluster"], run: clusterRangeProblems },
  { needs: ["devices", "cluster"], run: deviceSubnetProblems },
  { needs: ["devices", "cluster", "gateway", "ingress"], run: gatewayAddressProblems },
  { needs: ["cluster", "decoder"], run: decoderPlacementProblems },
  { needs: ["cluster"], run: clusterPoolProblems },
  { needs: ["cluster"], run: untaintedPoolProblems },
  { needs: ["decoder"], run: imagePullProblems },
  { needs: ["devices", "cluster", "ingress"], run: envoySessionProblems },
  { needs: ["ingress", "decoder"], run: namespaceProblems },
  { needs: ["devices", "decoder"], run: decoderEgressConfigProblems },
  { needs: ["gateway"], run: gatewayAccessProblems },
  { needs: ["devices", "gateway"], run: concentratorRoutingProblems },
];

/**
 * Runs every cross-key check whose sections are present. A config that failed its schema passes only the sections
 * that are valid on their own, so the checks that can still run do.
 */
export function crossCheckStackConfig(config: Partial<ParsedStackConfig>): ConfigProblem[] {
  return CROSS_CHECKS.flatMap((check) =>
    check.needs.every((section) => config[section] !== undefined) ? check.run(config as ParsedStackConfig) : [],
  );
}

function clusterRanges(config: ParsedStackConfig): NamedRange[] {
  return [
    { path: "cluster.podCidr", cidr: config.cluster.podCidr, what: "cluster.podCidr" },
    { path: "cluster.serviceCidr", cidr: config.cluster.serviceCidr, what: "cluster.serviceCidr" },
    { path: "(Kilo)", cidr: KILO_SUBNET, what: "the Kilo subnet" },
  ];
}

function clusterRangeProblems(config: ParsedStackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const [pod, service] = clusterRanges(config);
  if (cidrsOverlap(pod.cidr, service.cidr)) {
    problems.push({ path: service.path, message: `${service.cidr} overlaps cluster.podCidr (${pod.cidr})` });
  }
  for (const range of [pod, service]) {
    if (cidrsOverlap(range.cidr, KILO_SUBNET)) {
      problems.push({ path: range.path, message: `${range.cidr} overlaps the Kilo subnet ${KILO_SUBNET}` });
    }
  }
  return problems;
}

function deviceSubnetProblems(config: ParsedStackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ranges = clusterRanges(config);
  const subnets = config.devices.subnets;
  subnets.forEach((subnet, index) => {
    const path = `devices.subnets[${index}]`;
    subnets.slice(0, index).forEach((earlier, earlierIndex) => {
      if (cidrsOverlap(subnet, earlier)) {
        problems.push({ path, message: `${subnet} overlaps devices.subnets[${earlierIndex}] (${earlier})` });
      }
    });
    for (const range of ranges) {
      if (cidrsOverlap(subnet, range.cidr)) {
        problems.push({ path, message: `${subnet} overlaps ${range.what} (${range.cidr})` });
      }
    }
  });
  return problems;
}

function gatewayAddressProblems(config: ParsedStackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ranges = clusterRanges(config);
  const gatewayAddresses = [
    { path: "gateway.tunnelAddress", address: config.gateway.tunnelAddress },
    { path: "gateway.uplink.address", address: config.gateway.uplink.address },
  ];
  if (config.ingress.address !== undefined) {
    gatewayAddresses.push({ path: "ingress.address", address: config.ingress.address });
  }
  for (const { path, address } of gatewayAddresses) {
    for (const range of ranges) {
      if (cidrContainsAddress(range.cidr, address)) {
        problems.push({ path, message: `${address} is inside ${range.what} (${range.cidr})` });
      }
    }
    config.devices.subnets.forEach((subnet, index) => {
      if (cidrContainsAddress(subnet, address)) {
        problems.push({ path: `devices.subnets[${index}]`, message: `${subnet} contains ${path} (${address})` });
      }
    });
  }
  if (config.gateway.tunnelAddress === config.gateway.uplink.address) {
    problems.push({
      path: "gateway.uplink.address",
      message: "must differ from gateway.tunnelAddress: the two WireGuard interfaces need their own addresses",
    });
  }
  if (config.ingress.address !== undefined && config.ingress.address === config.gateway.tunnelAddress) {
    problems.push({
      path: "ingress.address",
      message: "must differ from gateway.tunnelAddress: devices send to the uplink side, not into the Kilo mesh",
    });
  }
  return problems;
}

/** The decoder component's own egress rules, reported at the config keys (the rules live in the component). */
function decoderEgressConfigProblems(config: ParsedStackConfig): ConfigProblem[] {
  return decoderEgressProblems(config.decoder.egress, config.devices.subnets).map((problem) => ({
    path: `decoder.${problem.propertyPath}`,
    message: problem.reason,
  }));
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

function clusterPoolProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (isExistingCluster(config.cluster)) return [];
  const cluster: KosmosClusterConfig = config.cluster;
  const problems: ConfigProblem[] = [];
  const { autoUpgrade, kubernetesVersion } = cluster;
  if (autoUpgrade.enabled && !/^\d+\.\d+$/.test(kubernetesVersion)) {
    problems.push({
      path: "cluster.kubernetesVersion",
      message: `with cluster.autoUpgrade.enabled the version must be a minor version x.y, not ${kubernetesVersion}`,
    });
  }
  cluster.generalPools.forEach((pool, index) => {
    if (pool.autoscaling && (pool.minSize === undefined || pool.maxSize === undefined)) {
      problems.push({ path: `cluster.generalPools[${index}]`, message: "autoscaling needs minSize and maxSize" });
    }
    if (pool.minSize !== undefined && pool.maxSize !== undefined && pool.minSize > pool.maxSize) {
      problems.push({ path: `cluster.generalPools[${index}].minSize`, message: "must not exceed maxSize" });
    }
  });
  const poolNames = [
    "ingress",
    ...cluster.generalPools.map((pool) => pool.name),
    ...cluster.externalPools.map((pool) => pool.name),
  ];
  poolNames.forEach((name, index) => {
    if (poolNames.indexOf(name) !== index) {
      problems.push({ path: "cluster", message: `pool name "${name}" is used twice` });
    }
  });
  return problems;
}

/** Whether one ingress node can hold its share of the fleet's Envoy sessions. */
function envoySessionProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (config.ingress.idleTimeoutSeconds > 24 * 3600) {
    return [{ path: "ingress.idleTimeoutSeconds", message: "expected at most one day" }];
  }
  const nodes = ingressNodes(config.cluster);
  try {
    sizeEnvoySessions({
      devices: config.devices.expectedCount,
      reportIntervalSeconds: config.devices.reportIntervalSeconds,
      idleTimeoutSeconds: config.ingress.idleTimeoutSeconds,
      ingressNodes: nodes.count,
    });
    return [];
  } catch (error) {
    if (!(error instanceof SessionSizingError)) throw error;
    return error.problems.map((message) => ({ path: nodes.path, message }));
  }
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
  const names = config.gateway.uplink.concentrators.map((concentrator) => concentrator.name);
  names.forEach((name, index) => {
    if (names.indexOf(name) !== index) {
      problems.push({ path: `gateway.uplink.concentrators[${index}].name`, message: `"${name}" is used twice` });
    }
  });
  return problems;
}

/**
 * WireGuard gives each address to one peer only, so with several concentrators every device subnet must be
 * routed to exactly one of them.
 */
function concentratorRoutingProblems(config: ParsedStackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { concentrators } = config.gateway.uplink;
  const owners = new Map<string, string>();
  concentrators.forEach((concentrator, index) => {
    const path = `gateway.uplink.concentrators[${index}].deviceSubnets`;
    if (concentrator.deviceSubnets === undefined) {
      if (concentrators.length > 1) problems.push({ path, message: "is required when there is more than one concentrator" });
      return;
    }
    concentrator.deviceSubnets.forEach((subnet, subnetIndex) => {
      if (!config.devices.subnets.includes(subnet)) {
        problems.push({ path: `${path}[${subnetIndex}]`, message: `${subnet} is not one of devices.subnets` });
      }
      const owner = owners.get(subnet);
      if (owner !== undefined) problems.push({ path: `${path}[${subnetIndex}]`, message: `${subnet} is already routed to ${owner}` });
      owners.set(subnet, concentrator.name);
    });
  });
  if (concentrators.length > 1) {
    config.devices.subnets.forEach((subnet, index) => {
      if (!owners.has(subnet)) problems.push({ path: `devices.subnets[${index}]`, message: `${subnet} is not routed to any concentrator` });
    });
  }
  return problems;
}

/**
 * The ingress pool is tainted for Envoy and the decoders, and external pools have no nodes until machines join, so
 * cluster add-ons (CoreDNS, metrics, Kilo's own) need a general pool that always has a node, or they stay Pending.
 * An existing cluster's pools are not the stack's to check.
 */
function untaintedPoolProblems(config: ParsedStackConfig): ConfigProblem[] {
  if (isExistingCluster(config.cluster)) return [];
  const alwaysHasNodes = config.cluster.generalPools.some(
    (pool) => pool.size >= 1 && (!pool.autoscaling || (pool.minSize ?? 0) >= 1),
  );
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
