import { KILO_SUBNET, checkDeviceSubnets, cidrContainsAddress, cidrsOverlap, isIpv4Address, parseIpv4Cidr } from "../network";
import { Problems } from "../problems";
import { decodeKey } from "../wireguard";

/*
 * The gateway's plan: what a user chooses (GatewayPlanInput, no secrets), the one resolver that applies every default
 * and every rule (resolveGatewayPlan), and what the renderers take (GatewayPlan, plus GatewaySecrets where a file
 * carries a key). The component's args are this input plus resource args; the stack maps its config onto it and reports
 * the resolver's problems at its own keys, so each rule about the gateway is written here and nowhere else.
 */

/** A VPN concentrator that delivers device traffic to the gateway over the WireGuard device uplink. */
export interface ConcentratorInput {
  /** Short name (a DNS label), used as a comment in the uplink configuration. */
  readonly name: string;
  /** Base64 WireGuard public key of the concentrator. */
  readonly publicKey: string;
  /** `host:port` the gateway dials; omit when only the concentrator initiates the tunnel. */
  readonly endpoint?: string;
  /** Public source addresses the concentrator's WireGuard packets come from (the uplink port is open to these only). */
  readonly sourceCidrs: readonly string[];
  /**
   * Device subnets behind this concentrator (its WireGuard AllowedIPs). Default: all device subnets, which is only
   * allowed with a single concentrator since WireGuard gives each address to one peer only.
   */
  readonly deviceSubnets?: readonly string[];
}

/** A binary the gateway downloads at boot from its release location, installed only if its sha256 matches. */
export interface PinnedDownload {
  /** Exact version, like `0.7.0` or `v1.34.2`. */
  readonly version: string;
  /** sha256 of the linux/amd64 binary at that version: there is no default, a person takes it from the release. */
  readonly sha256: string;
}

/** The cluster ranges device traffic is routed into. */
export interface GatewayClusterRanges {
  /** Pod CIDR (decoders reply from pod IPs). */
  readonly podCidr: string;
  /** Service CIDR; checked when given. */
  readonly serviceCidr?: string;
}

export interface GatewayPlanInput {
  /** Name of the cluster-scoped Kilo `Peer` that stands for this gateway (a Kubernetes object name). */
  readonly peerName: string;
  /** The gateway's own address in the Kilo mesh (the Peer's /32), outside Kilo's subnet and every cluster range. */
  readonly tunnelAddress: string;
  /** WireGuard port of the Kilo mesh. Default: `51820` (`GATEWAY_DEFAULTS`). */
  readonly kiloListenPort?: number;
  /** Keepalive the nodes use toward the gateway (the Peer's persistentKeepalive), seconds. Default: `25`. */
  readonly persistentKeepaliveSeconds?: number;
  /** Device subnets (CIDRs) behind the concentrators; they become part of the Peer's allowedIPs. */
  readonly deviceSubnets: readonly string[];
  /** The cluster's ranges: device subnets and the gateway's addresses must stay outside them and Kilo's subnet. */
  readonly cluster: GatewayClusterRanges;
  /** Networks allowed to SSH (TCP 22). Default: none, SSH closed. */
  readonly adminCidrs?: readonly string[];
  /** The device uplink toward the VPN concentrators. */
  readonly uplink: {
    /** The gateway's IPv4 address on the uplink. */
    readonly address: string;
    /** WireGuard listen port of the uplink. Default: `51821`. */
    readonly listenPort?: number;
    /** At least one concentrator. */
    readonly concentrators: readonly ConcentratorInput[];
  };
  readonly ingress: {
    /** Address devices send to; the gateway owns it on the uplink. Default: the uplink address. */
    readonly address?: string;
    /** UDP port devices send to (and the port Envoy listens on at the ingress nodes). */
    readonly port: number;
  };
  /**
   * When true, cluster -> device UDP leaves the uplink with the ingress address and port as source (for firmware that
   * only accepts packets from the address it talks to). Device -> cluster traffic is never rewritten. Default: `false`.
   */
  readonly downlinkSourceRewrite?: boolean;
  /** Device UDP ports pods may send downlinks to; the gateway forwards no other pod -> device traffic. Default: none. */
  readonly downlinkPorts?: readonly number[];
  /** Fleet size and report interval; they size connection tracking. */
  readonly devices: {
    readonly expectedCount: number;
    readonly reportIntervalSeconds: number;
  };
  /** What the steering agent watches and how often. */
  readonly steering: {
    /** Node label of the ingress pool. Default: `iot-udp-ingress/role=ingress`. */
    readonly ingressNodeLabel?: { readonly key: string; readonly value: string };
    /** Namespace of the Envoy DaemonSet pods. */
    readonly envoyNamespace: string;
    /** Equality-based label selector of the Envoy pods. Default: `app.kubernetes.io/name=envoy-udp-ingress`. */
    readonly envoyPodSelector?: string;
    /** Namespace of the headless decoder Service. */
    readonly decoderNamespace: string;
    /** Name of the headless decoder Service (its EndpointSlices carry `kubernetes.io/service-name`). */
    readonly decoderServiceName: string;
    /** Seconds between two steering decisions. Default: `5`. */
    readonly intervalSeconds?: number;
    /**
     * Hash buckets the device addresses are spread over; each bucket is steered to one node, so more buckets spread
     * devices more evenly over many nodes. Changing it moves most devices once. Default: `256`, at most 4096.
     */
    readonly buckets?: number;
  };
  /** Pinned kgctl and kubectl downloads. */
  readonly tools: { readonly kgctl: PinnedDownload; readonly kubectl: PinnedDownload };
}

/** Every default of GatewayPlanInput, written here only (the stack schema, the component and the README read it). */
export const GATEWAY_DEFAULTS = {
  kiloListenPort: 51820,
  persistentKeepaliveSeconds: 25,
  uplinkListenPort: 51821,
  ingressNodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
  envoyPodSelector: "app.kubernetes.io/name=envoy-udp-ingress",
  steeringIntervalSeconds: 5,
  steeringBuckets: 256,
} as const;

/**
 * Settings of the gateway host that are not options: each is the only value the rest of the design is built and
 * tested for. The interface names and the node exporter port are what the firewall and the metrics refer to.
 */
export const GATEWAY_HOST = {
  kiloInterface: "kilo0",
  uplinkInterface: "wg-uplink",
  /**
   * The instance's own network interface as the Debian image names it on Scaleway (systemd's predictable name of the
   * virtio NIC in PCI slot 2). Only a gateway pair refers to it: its role hook puts the shared flexible IP there
   * (infra/gateway/role.ts); nothing else configures the public side, which the image's DHCP client does.
   */
  publicInterface: "ens2",
  /** kgctl's default MTU, and the uplink's: WireGuard's 80 bytes of overhead under a 1500-byte path. */
  mtu: 1420,
  /** kgctl's resync period, seconds (the mesh-config staleness alert counts in it). */
  kiloResyncSeconds: 30,
  /** The gateway's own keepalive toward each concentrator, seconds. */
  uplinkKeepaliveSeconds: 25,
  /** Seed of the nftables `jhash` of device addresses; a change would move every device. */
  hashSeed: 0,
  /** prometheus-node-exporter's port (Debian's default), opened only on the Kilo interface. */
  nodeExporterPort: 9100,
  arch: "amd64",
  /**
   * UDP socket buffers sized for bursts of small datagrams (all devices reporting at once after an outage): 25 MiB
   * maxima, 1 MiB defaults, and a backlog deep enough to absorb a burst per CPU poll.
   */
  networkBuffers: { rmemMax: 26_214_400, wmemMax: 26_214_400, rmemDefault: 1_048_576, wmemDefault: 1_048_576, netdevMaxBacklog: 16_384 },
} as const;

/** Where prometheus-node-exporter serves its metrics (the steering agent's textfile among them). */
export const NODE_EXPORTER_METRICS_PATH = "/metrics";
/** The largest `steering.buckets`: the steering map is filled in one nft transaction per decision. */
export const MAX_STEERING_BUCKETS = 4096;

/** Kilo's release asset naming (`kgctl-<os>-<arch>`). */
export const kgctlUrl = (version: string): string =>
  `https://github.com/squat/kilo/releases/download/${version}/kgctl-linux-${GATEWAY_HOST.arch}`;
/** The Kubernetes release download location. */
export const kubectlUrl = (version: string): string =>
  `https://dl.k8s.io/release/${version.startsWith("v") ? version : `v${version}`}/bin/linux/${GATEWAY_HOST.arch}/kubectl`;

/** The gateway's secrets: never part of a plan, only of the files that carry them (cloud-init). */
export interface GatewaySecrets {
  /** Base64 WireGuard private key whose public half is the Peer's `publicKey`. */
  readonly kiloPrivateKey: string;
  /** Base64 WireGuard private key of the uplink interface. */
  readonly uplinkPrivateKey: string;
  /** Kubeconfig (file content) of the gateway's ServiceAccount: used by kgctl and the steering agent. */
  readonly kubeconfig: string;
}

export interface ResolvedConcentrator {
  readonly name: string;
  readonly publicKey: string;
  readonly endpoint?: { readonly host: string; readonly port: number };
  readonly sourceCidrs: readonly string[];
  readonly deviceSubnets: readonly string[];
  readonly persistentKeepalive: number;
}

export interface ResolvedDownload extends PinnedDownload {
  readonly url: string;
}

/** The input with every default applied and every rule checked: what the renderers take. */
export interface GatewayPlan {
  readonly peerName: string;
  readonly tunnelAddress: string;
  readonly deviceSubnets: readonly string[];
  readonly podCidr: string;
  readonly kilo: {
    readonly interfaceName: string;
    readonly listenPort: number;
    readonly mtu: number;
    readonly resyncPeriodSeconds: number;
    readonly persistentKeepaliveSeconds: number;
  };
  readonly uplink: {
    readonly interfaceName: string;
    readonly address: string;
    readonly listenPort: number;
    readonly mtu: number;
    readonly concentrators: readonly ResolvedConcentrator[];
  };
  readonly ingress: { readonly address: string; readonly port: number };
  readonly downlinkSourceRewrite: boolean;
  /** Ascending, unique. */
  readonly downlinkPorts: readonly number[];
  readonly adminCidrs: readonly string[];
  readonly devices: { readonly expectedCount: number; readonly reportIntervalSeconds: number };
  readonly steering: {
    readonly ingressNodeLabel: { readonly key: string; readonly value: string };
    readonly envoyNamespace: string;
    readonly envoyPodSelector: string;
    readonly decoderNamespace: string;
    readonly decoderServiceName: string;
    readonly intervalSeconds: number;
    readonly buckets: number;
    readonly hashSeed: number;
  };
  readonly tools: { readonly kgctl: ResolvedDownload; readonly kubectl: ResolvedDownload };
  readonly networkBuffers: NetworkBuffers;
  readonly metrics: { readonly nodeExporterPort: number };
}

export type NetworkBuffers = (typeof GATEWAY_HOST)["networkBuffers"];

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
// Equality-based selectors only: they are passed to kubectl and must not need shell quoting.
const LABEL_SELECTOR = /^[A-Za-z0-9./_-]+(==?|!=)[A-Za-z0-9._-]*(,[A-Za-z0-9./_-]+(==?|!=)[A-Za-z0-9._-]*)*$/;
const VERSION = /^v?\d+\.\d+\.\d+$/;
const SHA256 = /^[0-9a-f]{64}$/;
const HOST_PORT = /^([A-Za-z0-9.-]+):(\d{1,5})$/;

/** Checks a WireGuard key the way the renderers and kgctl will read it; a problem at `path` otherwise. */
export function checkWireguardKey(problems: Problems, path: string, key: string): void {
  problems.attempt(path, () => decodeKey(key));
}

/**
 * Applies every default and checks every rule of the gateway's input; throws a PlanError listing every problem at
 * the input's key paths.
 */
export function resolveGatewayPlan(input: GatewayPlanInput): GatewayPlan {
  const problems = new Problems();
  const validCidrs = (cidrs: readonly string[], path: string): string[] =>
    cidrs.filter((cidr, i) => problems.attempt(`${path}[${i}]`, () => parseIpv4Cidr(cidr)) !== undefined);

  if (!DNS_SUBDOMAIN.test(input.peerName) || input.peerName.length > 253) {
    problems.add("peerName", "must be a Kubernetes object name (lowercase RFC 1123 subdomain)");
  }

  // The ranges device traffic is routed into: a device subnet or a gateway address inside one would make Kilo route
  // replies into the cluster (or the other way round), and WireGuard would drop the packets without a word.
  const clusterRanges: Array<{ cidr: string; what: string }> = [{ cidr: KILO_SUBNET, what: "Kilo's subnet" }];
  if (validCidrs([input.cluster.podCidr], "cluster.podCidr").length === 1) clusterRanges.push({ cidr: input.cluster.podCidr, what: "the pod CIDR" });
  const serviceCidr = input.cluster.serviceCidr;
  if (serviceCidr !== undefined && validCidrs([serviceCidr], "cluster.serviceCidr").length === 1) {
    clusterRanges.push({ cidr: serviceCidr, what: "the service CIDR" });
  }

  const deviceSubnets = checkDeviceSubnets(problems, input.deviceSubnets);
  input.deviceSubnets.forEach((subnet, i) => {
    if (!deviceSubnets.includes(subnet)) return;
    for (const range of clusterRanges) {
      if (cidrsOverlap(subnet, range.cidr)) problems.add(`deviceSubnets[${i}]`, `${subnet} overlaps ${range.what} (${range.cidr})`);
    }
  });

  const ingressAddress = input.ingress.address ?? input.uplink.address;
  const ownAddresses: Array<{ path: string; address: string }> = [];
  const ownAddress = (path: string, address: string | undefined): void => {
    if (address === undefined) return;
    if (!isIpv4Address(address)) problems.add(path, "must be an IPv4 address");
    else ownAddresses.push({ path, address });
  };
  ownAddress("tunnelAddress", input.tunnelAddress);
  ownAddress("uplink.address", input.uplink.address);
  ownAddress("ingress.address", input.ingress.address);
  for (const { path, address } of ownAddresses) {
    for (const range of clusterRanges) {
      if (cidrContainsAddress(range.cidr, address)) problems.add(path, `${address} is inside ${range.what} (${range.cidr})`);
    }
    deviceSubnets.forEach((subnet) => {
      if (cidrContainsAddress(subnet, address)) problems.add(path, `${address} is inside the device subnet ${subnet}`);
    });
  }
  if (input.tunnelAddress === input.uplink.address) {
    problems.add("uplink.address", `must differ from the tunnel address (${input.tunnelAddress}): the two WireGuard interfaces need their own addresses`);
  }
  if (input.ingress.address !== undefined && input.ingress.address === input.tunnelAddress) {
    problems.add("ingress.address", `must differ from the tunnel address (${input.tunnelAddress}): devices send to the uplink side, not into the Kilo mesh`);
  }

  const kiloListenPort = input.kiloListenPort ?? GATEWAY_DEFAULTS.kiloListenPort;
  const uplinkListenPort = input.uplink.listenPort ?? GATEWAY_DEFAULTS.uplinkListenPort;
  problems.port("kiloListenPort", kiloListenPort);
  problems.port("uplink.listenPort", uplinkListenPort);
  problems.port("ingress.port", input.ingress.port);
  if (kiloListenPort === uplinkListenPort) problems.add("uplink.listenPort", `must differ from the Kilo listen port (${kiloListenPort})`);
  const persistentKeepaliveSeconds = input.persistentKeepaliveSeconds ?? GATEWAY_DEFAULTS.persistentKeepaliveSeconds;
  problems.integer("persistentKeepaliveSeconds", persistentKeepaliveSeconds, 0, 65535);

  const concentrators = resolveConcentrators(input, deviceSubnets, problems);

  (input.downlinkPorts ?? []).forEach((port, i) => problems.port(`downlinkPorts[${i}]`, port));
  const downlinkPorts = [...new Set(input.downlinkPorts ?? [])].sort((a, b) => a - b);
  const adminCidrs = input.adminCidrs ?? [];
  validCidrs(adminCidrs, "adminCidrs");
  problems.integer("devices.expectedCount", input.devices.expectedCount, 1, 100_000_000);
  problems.integer("devices.reportIntervalSeconds", input.devices.reportIntervalSeconds, 1, 86_400);

  const steering = input.steering;
  const ingressNodeLabel = steering.ingressNodeLabel ?? GATEWAY_DEFAULTS.ingressNodeLabel;
  if (!LABEL_KEY.test(ingressNodeLabel.key)) problems.add("steering.ingressNodeLabel.key", "must be a label key");
  if (!LABEL_VALUE.test(ingressNodeLabel.value)) problems.add("steering.ingressNodeLabel.value", "must be a label value");
  const envoyPodSelector = steering.envoyPodSelector ?? GATEWAY_DEFAULTS.envoyPodSelector;
  if (!LABEL_SELECTOR.test(envoyPodSelector)) problems.add("steering.envoyPodSelector", "must be an equality-based label selector");
  if (!DNS_LABEL.test(steering.envoyNamespace)) problems.add("steering.envoyNamespace", "must be a namespace name");
  if (!DNS_LABEL.test(steering.decoderNamespace)) problems.add("steering.decoderNamespace", "must be a namespace name");
  if (!DNS_LABEL.test(steering.decoderServiceName)) problems.add("steering.decoderServiceName", "must be a Service name");
  const intervalSeconds = steering.intervalSeconds ?? GATEWAY_DEFAULTS.steeringIntervalSeconds;
  problems.integer("steering.intervalSeconds", intervalSeconds, 1, 3600);
  const buckets = steering.buckets ?? GATEWAY_DEFAULTS.steeringBuckets;
  problems.integer("steering.buckets", buckets, 1, MAX_STEERING_BUCKETS);

  const download = (path: string, pinned: PinnedDownload, url: (version: string) => string): ResolvedDownload => {
    if (!VERSION.test(pinned.version)) problems.add(`${path}.version`, "must be an exact version like 1.2.3");
    if (!SHA256.test(pinned.sha256)) problems.add(`${path}.sha256`, "must be 64 lowercase hex digits");
    return { version: pinned.version, sha256: pinned.sha256, url: url(pinned.version) };
  };
  const kgctl = download("tools.kgctl", input.tools.kgctl, kgctlUrl);
  const kubectl = download("tools.kubectl", input.tools.kubectl, kubectlUrl);

  problems.throwIfAny("gateway");

  return {
    peerName: input.peerName,
    tunnelAddress: input.tunnelAddress,
    deviceSubnets: [...input.deviceSubnets],
    podCidr: input.cluster.podCidr,
    kilo: {
      interfaceName: GATEWAY_HOST.kiloInterface,
      listenPort: kiloListenPort,
      mtu: GATEWAY_HOST.mtu,
      resyncPeriodSeconds: GATEWAY_HOST.kiloResyncSeconds,
      persistentKeepaliveSeconds,
    },
    uplink: {
      interfaceName: GATEWAY_HOST.uplinkInterface,
      address: input.uplink.address,
      listenPort: uplinkListenPort,
      mtu: GATEWAY_HOST.mtu,
      concentrators,
    },
    ingress: { address: ingressAddress, port: input.ingress.port },
    downlinkSourceRewrite: input.downlinkSourceRewrite ?? false,
    downlinkPorts,
    adminCidrs: [...adminCidrs],
    devices: { expectedCount: input.devices.expectedCount, reportIntervalSeconds: input.devices.reportIntervalSeconds },
    steering: {
      ingressNodeLabel: { key: ingressNodeLabel.key, value: ingressNodeLabel.value },
      envoyNamespace: steering.envoyNamespace,
      envoyPodSelector,
      decoderNamespace: steering.decoderNamespace,
      decoderServiceName: steering.decoderServiceName,
      intervalSeconds,
      buckets,
      hashSeed: GATEWAY_HOST.hashSeed,
    },
    tools: { kgctl, kubectl },
    networkBuffers: GATEWAY_HOST.networkBuffers,
    metrics: { nodeExporterPort: GATEWAY_HOST.nodeExporterPort },
  };
}

/** WireGuard gives each address to one peer only, so with several concentrators every device subnet has one owner. */
function resolveConcentrators(input: GatewayPlanInput, deviceSubnets: readonly string[], problems: Problems): ResolvedConcentrator[] {
  const all = input.uplink.concentrators;
  if (all.length === 0) problems.add("uplink.concentrators", "must list at least one concentrator");
  const owners = new Map<string, string>();
  const resolved = all.map((concentrator, i): ResolvedConcentrator => {
    const at = `uplink.concentrators[${i}]`;
    if (!DNS_LABEL.test(concentrator.name)) problems.add(`${at}.name`, "must be a DNS label");
    if (all.findIndex((other) => other.name === concentrator.name) !== i) problems.add(`${at}.name`, `"${concentrator.name}" is used by another concentrator`);
    checkWireguardKey(problems, `${at}.publicKey`, concentrator.publicKey);
    let endpoint: ResolvedConcentrator["endpoint"];
    if (concentrator.endpoint !== undefined) {
      const match = HOST_PORT.exec(concentrator.endpoint);
      if (match === null) problems.add(`${at}.endpoint`, "must be host:port");
      else {
        endpoint = { host: match[1], port: Number(match[2]) };
        problems.port(`${at}.endpoint`, endpoint.port);
      }
    }
    if (concentrator.sourceCidrs.length === 0) problems.add(`${at}.sourceCidrs`, "must list at least one CIDR");
    concentrator.sourceCidrs.forEach((cidr, j) => problems.attempt(`${at}.sourceCidrs[${j}]`, () => parseIpv4Cidr(cidr)));
    let subnets = concentrator.deviceSubnets;
    if (subnets === undefined) {
      if (all.length > 1) problems.add(`${at}.deviceSubnets`, "must be given when there is more than one concentrator");
      subnets = deviceSubnets;
    } else {
      if (subnets.length === 0) problems.add(`${at}.deviceSubnets`, "must not be empty");
      subnets.forEach((subnet, j) => {
        if (!input.deviceSubnets.includes(subnet)) problems.add(`${at}.deviceSubnets[${j}]`, `${subnet} is not one of the device subnets`);
        const owner = owners.get(subnet);
        if (owner !== undefined) problems.add(`${at}.deviceSubnets[${j}]`, `${subnet} is already routed to ${owner}`);
        owners.set(subnet, concentrator.name);
      });
    }
    return {
      name: concentrator.name,
      publicKey: concentrator.publicKey,
      ...(endpoint === undefined ? {} : { endpoint }),
      sourceCidrs: [...concentrator.sourceCidrs],
      deviceSubnets: [...subnets],
      persistentKeepalive: GATEWAY_HOST.uplinkKeepaliveSeconds,
    };
  });
  if (all.length > 1) {
    input.deviceSubnets.forEach((subnet, i) => {
      if (!owners.has(subnet)) problems.add(`deviceSubnets[${i}]`, `${subnet} is not routed to any concentrator`);
    });
  }
  return resolved;
}

/** Checks the secrets the way kgctl and wg-quick will read them; problems at `kiloPrivateKey`, `uplinkPrivateKey`, `kubeconfig`. */
export function checkGatewaySecrets(secrets: GatewaySecrets): void {
  const problems = new Problems();
  checkWireguardKey(problems, "kiloPrivateKey", secrets.kiloPrivateKey);
  checkWireguardKey(problems, "uplinkPrivateKey", secrets.uplinkPrivateKey);
  if (secrets.kubeconfig.trim() === "") problems.add("kubeconfig", "must not be empty");
  problems.throwIfAny("gateway secrets");
}
