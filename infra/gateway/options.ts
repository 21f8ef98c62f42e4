import { KILO_SUBNET, cidrContainsAddress, cidrsOverlap, isIpv4Address, parseIpv4Cidr } from "../network";
import { decodeKey } from "../wireguard";

/** TCP port of prometheus-node-exporter on the gateway (Debian's default). */
export const NODE_EXPORTER_PORT = 9100;
/** Where prometheus-node-exporter serves its metrics (the steering agent's textfile among them). */
export const NODE_EXPORTER_METRICS_PATH = "/metrics";

/** A VPN concentrator that delivers device traffic to the gateway over the WireGuard device uplink. */
export interface ConcentratorOptions {
  /** Short name, used as a comment in the uplink configuration. */
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
  /** Seconds; default 25. */
  readonly persistentKeepalive?: number;
  /** Optional base64 WireGuard preshared key. */
  readonly presharedKey?: string;
}

/** A binary the gateway downloads at boot, checked against a pinned sha256 sum before it is installed. */
export interface DownloadOptions {
  /** Exact version, like `0.7.0` or `v1.34.2`. */
  readonly version?: string;
  /** Download URL; default derived from the version (see `DEFAULT_KGCTL_URL` and `DEFAULT_KUBECTL_URL`). */
  readonly url?: string;
  /** sha256 of the file at `url`: required, because a download is only trusted against a sum reviewed by a person. */
  readonly sha256: string;
}

export interface GatewayHostOptions {
  /** Name of the cluster-scoped Kilo `Peer` that stands for this gateway. */
  readonly peerName: string;
  /** The gateway's own address in the Kilo mesh (the Peer's /32). Must be outside the Kilo subnet. */
  readonly tunnelAddress: string;
  /** Base64 WireGuard private key whose public half is the Peer's `publicKey`. */
  readonly kiloPrivateKey: string;
  /** Kubeconfig (file content) of the gateway's ServiceAccount: used by kgctl and the steering agent. */
  readonly kubeconfig: string;
  /** Device subnets (CIDRs) behind the concentrators. */
  readonly deviceSubnets: readonly string[];
  /** Cluster ranges device traffic may reach. */
  readonly cluster: {
    /** Pod CIDR of the cluster (decoders reply from pod IPs). */
    readonly podCidr: string;
    /** Kilo's WireGuard subnet (device subnets and the gateway's addresses must stay outside it). Default `10.4.0.0/16`. */
    readonly kiloSubnet?: string;
  };
  readonly kilo?: {
    /** Default `kilo0`. */
    readonly interfaceName?: string;
    /** WireGuard port of the Kilo mesh. Default 51820. */
    readonly listenPort?: number;
    /** Default 1420 (kgctl's default). */
    readonly mtu?: number;
    /** kgctl resync period in seconds. Default 30. */
    readonly resyncPeriodSeconds?: number;
    /** kgctl `--mesh-granularity`; default: not passed (kgctl reads the nodes' annotation). */
    readonly meshGranularity?: "location" | "full";
    /** kgctl `--topology-label`; default: not passed (kgctl's default `topology.kubernetes.io/region`). */
    readonly topologyLabel?: string;
  };
  readonly uplink: {
    /** Default `wg-uplink`. */
    readonly interfaceName?: string;
    /** Base64 WireGuard private key of the uplink interface. */
    readonly privateKey: string;
    /** The gateway's IPv4 address on the uplink. */
    readonly address: string;
    /** Default 51821. */
    readonly listenPort?: number;
    /** Default 1420. */
    readonly mtu?: number;
    readonly concentrators: readonly ConcentratorOptions[];
  };
  readonly ingress: {
    /** Address devices send to; the gateway owns it on the uplink. Default: the uplink address. */
    readonly address?: string;
    /** UDP port devices send to (and the port Envoy listens on at the ingress nodes). */
    readonly port: number;
  };
  /**
   * When true, cluster -> device UDP leaves the uplink with the ingress address and port as source (for firmware that
   * only accepts packets from the address it talks to). Device -> cluster traffic is never rewritten. Default false.
   */
  readonly downlinkSourceRewrite?: boolean;
  /**
   * Device UDP ports pods may send downlinks to (`decoder.downlinkPorts`); the gateway forwards no other cluster ->
   * device traffic except replies of steered flows. Default none.
   */
  readonly downlinkPorts?: readonly number[];
  /** CIDRs allowed to reach SSH (TCP 22). Default none: SSH closed. */
  readonly adminCidrs?: readonly string[];
  readonly devices: {
    /** Number of devices expected behind the gateway; sizes the connection tracking table. */
    readonly expectedCount: number;
    /** Seconds between two reports of one device; sizes the UDP connection tracking timeouts. */
    readonly reportIntervalSeconds: number;
  };
  readonly steering: {
    /** Node label of the ingress pool. Default `iot-udp-ingress/role=ingress`. */
    readonly ingressNodeLabel?: { readonly key: string; readonly value: string };
    /** Namespace of the Envoy DaemonSet pods. */
    readonly envoyNamespace: string;
    /** Label selector of the Envoy pods. Default `app.kubernetes.io/name=envoy-udp-ingress`. */
    readonly envoyPodSelector?: string;
    /** Namespace of the headless decoder Service. */
    readonly decoderNamespace: string;
    /** Name of the headless decoder Service (its EndpointSlices carry `kubernetes.io/service-name`). */
    readonly decoderServiceName: string;
    /** Seconds between two refreshes. Default 5. */
    readonly intervalSeconds?: number;
    /** Hash buckets the device addresses are spread over; the map assigns each bucket a node. Default 256. */
    readonly buckets?: number;
    /** Seed of the nftables `jhash`. Default 0. Changing it moves every device. */
    readonly hashSeed?: number;
  };
  readonly tools: {
    readonly arch?: "amd64" | "arm64";
    readonly kgctl: DownloadOptions;
    readonly kubectl: DownloadOptions;
  };
  /** UDP socket buffer and backlog sysctls; defaults in `DEFAULT_NETWORK_BUFFERS`. */
  readonly networkBuffers?: Partial<NetworkBuffers>;
  /** NTP servers for chrony; default: the distribution's pool. */
  readonly ntpServers?: readonly string[];
  /** The gateway's metrics (prometheus-node-exporter with the steering agent's textfile). */
  readonly metrics?: {
    /** TCP port of the node exporter, opened only on the Kilo interface. Default: `9100` (Debian's). */
    readonly nodeExporterPort?: number;
  };
}

export interface NetworkBuffers {
  readonly rmemMax: number;
  readonly wmemMax: number;
  readonly rmemDefault: number;
  readonly wmemDefault: number;
  readonly netdevMaxBacklog: number;
}

/** Options with every default filled in and every value checked. */
export interface ResolvedGatewayOptions {
  readonly peerName: string;
  readonly tunnelAddress: string;
  readonly kiloPrivateKey: string;
  readonly kubeconfig: string;
  readonly deviceSubnets: readonly string[];
  readonly podCidr: string;
  readonly kiloSubnet: string;
  readonly kilo: {
    readonly interfaceName: string;
    readonly listenPort: number;
    readonly mtu: number;
    readonly resyncPeriodSeconds: number;
    readonly meshGranularity?: "location" | "full";
    readonly topologyLabel?: string;
  };
  readonly uplink: {
    readonly interfaceName: string;
    readonly privateKey: string;
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
  readonly tools: {
    readonly arch: "amd64" | "arm64";
    readonly kgctl: Required<DownloadOptions>;
    readonly kubectl: Required<DownloadOptions>;
  };
  readonly networkBuffers: NetworkBuffers;
  readonly ntpServers: readonly string[];
  readonly metrics: { readonly nodeExporterPort: number };
}

export interface ResolvedConcentrator {
  readonly name: string;
  readonly publicKey: string;
  readonly endpoint?: { readonly host: string; readonly port: number };
  readonly sourceCidrs: readonly string[];
  readonly deviceSubnets: readonly string[];
  readonly persistentKeepalive: number;
  readonly presharedKey?: string;
}

export const DEFAULT_KILO_INTERFACE = "kilo0";
export const DEFAULT_KILO_PORT = 51820;
export const DEFAULT_UPLINK_INTERFACE = "wg-uplink";
export const DEFAULT_UPLINK_PORT = 51821;
export const DEFAULT_INGRESS_NODE_LABEL = { key: "iot-udp-ingress/role", value: "ingress" } as const;
export const DEFAULT_ENVOY_POD_SELECTOR = "app.kubernetes.io/name=envoy-udp-ingress";
export const DEFAULT_STEERING_BUCKETS = 256;
/**
 * Versions used when the options name none. They are starting points, not vouched-for releases: the sha256 sums
 * have no default and must be taken from the published release of the chosen version.
 */
export const DEFAULT_KGCTL_VERSION = "0.7.0";
export const DEFAULT_KUBECTL_VERSION = "v1.34.2";
/** Kilo's release asset naming (`kgctl-<os>-<arch>`). */
export const DEFAULT_KGCTL_URL = (version: string, arch: string): string =>
  `https://github.com/squat/kilo/releases/download/${version}/kgctl-linux-${arch}`;
/** The Kubernetes release download location. */
export const DEFAULT_KUBECTL_URL = (version: string, arch: string): string =>
  `https://dl.k8s.io/release/${version.startsWith("v") ? version : `v${version}`}/bin/linux/${arch}/kubectl`;

/**
 * Socket buffers sized for bursts of small datagrams (all devices reporting at once after an outage):
 * 25 MiB maxima, 1 MiB defaults, and a backlog deep enough to absorb a burst per CPU poll.
 */
export const DEFAULT_NETWORK_BUFFERS: NetworkBuffers = {
  rmemMax: 26_214_400,
  wmemMax: 26_214_400,
  rmemDefault: 1_048_576,
  wmemDefault: 1_048_576,
  netdevMaxBacklog: 16_384,
};

export class GatewayOptionsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid gateway options:\n  - ${problems.join("\n  - ")}`);
    this.name = "GatewayOptionsError";
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const INTERFACE_NAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
// Equality-based selectors only: they are passed to kubectl and must not need shell quoting.
const LABEL_SELECTOR = /^[A-Za-z0-9./_-]+(==?|!=)[A-Za-z0-9._-]*(,[A-Za-z0-9./_-]+(==?|!=)[A-Za-z0-9._-]*)*$/;
const VERSION = /^v?\d+\.\d+\.\d+$/;
const SHA256 = /^[0-9a-f]{64}$/;
const HTTPS_URL = /^https:\/\/[A-Za-z0-9.-]+(:\d+)?\/[A-Za-z0-9._~%/+-]*$/;
const HOST_PORT = /^([A-Za-z0-9.-]+):(\d{1,5})$/;
const NTP_SERVER = /^[A-Za-z0-9.-]+$/;

/** Fills in defaults and checks everything; throws one `GatewayOptionsError` listing every problem by field. */
export function resolveGatewayOptions(options: GatewayHostOptions): ResolvedGatewayOptions {
  const problems: string[] = [];
  const problem = (field: string, message: string): void => {
    problems.push(`${field}: ${message}`);
  };
  const checkCidrs = (cidrs: readonly string[], field: string): void => {
    cidrs.forEach((cidr, i) => {
      try {
        parseIpv4Cidr(cidr);
      } catch (error) {
        problem(`${field}[${i}]`, (error as Error).message);
      }
    });
  };
  const checkKey = (key: string, field: string): void => {
    try {
      decodeKey(key);
    } catch (error) {
      problem(field, (error as Error).message);
    }
  };
  const checkPort = (port: number, field: string): void => {
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) problem(field, "must be an integer from 1 to 65535");
  };
  const checkInteger = (value: number, field: string, min: number, max: number): void => {
    if (!(Number.isInteger(value) && value >= min && value <= max)) problem(field, `must be an integer from ${min} to ${max}`);
  };
  const validCidr = (cidr: string): boolean => {
    try {
      parseIpv4Cidr(cidr);
      return true;
    } catch {
      return false;
    }
  };

  if (!DNS_SUBDOMAIN.test(options.peerName) || options.peerName.length > 253) {
    problem("peerName", "must be a Kubernetes object name (lowercase RFC 1123 subdomain)");
  }
  checkKey(options.kiloPrivateKey, "kiloPrivateKey");
  checkKey(options.uplink.privateKey, "uplink.privateKey");
  if (options.kubeconfig.trim() === "") problem("kubeconfig", "must not be empty");

  const kiloSubnet = options.cluster.kiloSubnet ?? KILO_SUBNET;
  checkCidrs([options.cluster.podCidr], "cluster.podCidr");
  checkCidrs([kiloSubnet], "cluster.kiloSubnet");
  const clusterRanges = [options.cluster.podCidr, kiloSubnet].filter(validCidr);

  if (options.deviceSubnets.length === 0) problem("deviceSubnets", "must list at least one device subnet");
  checkCidrs(options.deviceSubnets, "deviceSubnets");
  const deviceSubnets = options.deviceSubnets.filter(validCidr);
  deviceSubnets.forEach((subnet, i) => {
    deviceSubnets.slice(i + 1).forEach((other) => {
      if (cidrsOverlap(subnet, other)) problem("deviceSubnets", `${subnet} overlaps ${other}`);
    });
    clusterRanges.forEach((range) => {
      if (cidrsOverlap(subnet, range)) problem("deviceSubnets", `${subnet} overlaps the cluster range ${range}`);
    });
  });

  const ownAddresses: Array<[string, string]> = [];
  if (!isIpv4Address(options.tunnelAddress)) problem("tunnelAddress", "must be an IPv4 address");
  else ownAddresses.push(["tunnelAddress", options.tunnelAddress]);
  if (!isIpv4Address(options.uplink.address)) problem("uplink.address", "must be an IPv4 address");
  else ownAddresses.push(["uplink.address", options.uplink.address]);
  const ingressAddress = options.ingress.address ?? options.uplink.address;
  if (options.ingress.address !== undefined) {
    if (!isIpv4Address(options.ingress.address)) problem("ingress.address", "must be an IPv4 address");
    else ownAddresses.push(["ingress.address", options.ingress.address]);
  }
  for (const [field, address] of ownAddresses) {
    for (const range of [...deviceSubnets, ...clusterRanges]) {
      if (cidrContainsAddress(range, address)) problem(field, `${address} lies inside ${range}`);
    }
  }
  if (options.tunnelAddress === options.uplink.address || options.tunnelAddress === options.ingress.address) {
    problem("tunnelAddress", "must differ from the uplink and ingress addresses (it belongs to the Kilo interface)");
  }

  const kiloInterface = options.kilo?.interfaceName ?? DEFAULT_KILO_INTERFACE;
  const uplinkInterface = options.uplink.interfaceName ?? DEFAULT_UPLINK_INTERFACE;
  if (!INTERFACE_NAME.test(kiloInterface)) problem("kilo.interfaceName", "must be a Linux interface name (1-15 characters)");
  if (!INTERFACE_NAME.test(uplinkInterface)) problem("uplink.interfaceName", "must be a Linux interface name (1-15 characters)");
  if (kiloInterface === uplinkInterface) problem("uplink.interfaceName", "must differ from kilo.interfaceName");

  const kiloPort = options.kilo?.listenPort ?? DEFAULT_KILO_PORT;
  const uplinkPort = options.uplink.listenPort ?? DEFAULT_UPLINK_PORT;
  checkPort(kiloPort, "kilo.listenPort");
  checkPort(uplinkPort, "uplink.listenPort");
  checkPort(options.ingress.port, "ingress.port");
  if (kiloPort === uplinkPort) problem("uplink.listenPort", "must differ from kilo.listenPort");
  const kiloMtu = options.kilo?.mtu ?? 1420;
  const uplinkMtu = options.uplink.mtu ?? 1420;
  checkInteger(kiloMtu, "kilo.mtu", 1280, 9000);
  checkInteger(uplinkMtu, "uplink.mtu", 1280, 9000);
  const resyncPeriodSeconds = options.kilo?.resyncPeriodSeconds ?? 30;
  checkInteger(resyncPeriodSeconds, "kilo.resyncPeriodSeconds", 1, 3600);
  const topologyLabel = options.kilo?.topologyLabel;
  if (topologyLabel !== undefined && !LABEL_KEY.test(topologyLabel)) problem("kilo.topologyLabel", "must be a label key");

  const concentrators: ResolvedConcentrator[] = [];
  if (options.uplink.concentrators.length === 0) problem("uplink.concentrators", "must list at least one concentrator");
  const claimed: Array<[string, string]> = [];
  options.uplink.concentrators.forEach((concentrator, i) => {
    const at = `uplink.concentrators[${i}]`;
    if (!DNS_LABEL.test(concentrator.name)) problem(`${at}.name`, "must be a DNS label");
    if (options.uplink.concentrators.findIndex((other) => other.name === concentrator.name) !== i) {
      problem(`${at}.name`, "is used by another concentrator");
    }
    checkKey(concentrator.publicKey, `${at}.publicKey`);
    if (concentrator.presharedKey !== undefined) checkKey(concentrator.presharedKey, `${at}.presharedKey`);
    let endpoint: ResolvedConcentrator["endpoint"];
    if (concentrator.endpoint !== undefined) {
      const match = HOST_PORT.exec(concentrator.endpoint);
      if (match === null) problem(`${at}.endpoint`, "must be host:port");
      else {
        endpoint = { host: match[1], port: Number(match[2]) };
        checkPort(endpoint.port, `${at}.endpoint`);
      }
    }
    if (concentrator.sourceCidrs.length === 0) problem(`${at}.sourceCidrs`, "must list at least one CIDR");
    checkCidrs(concentrator.sourceCidrs, `${at}.sourceCidrs`);
    let subnets = concentrator.deviceSubnets;
    if (subnets === undefined) {
      if (options.uplink.concentrators.length > 1) {
        problem(`${at}.deviceSubnets`, "must be given when there is more than one concentrator");
      }
      subnets = deviceSubnets;
    } else {
      if (subnets.length === 0) problem(`${at}.deviceSubnets`, "must not be empty");
      checkCidrs(subnets, `${at}.deviceSubnets`);
      subnets.forEach((subnet) => {
        if (!deviceSubnets.includes(subnet)) problem(`${at}.deviceSubnets`, `${subnet} is not one of deviceSubnets`);
        const owner = claimed.find(([claimedSubnet]) => claimedSubnet === subnet);
        if (owner !== undefined) problem(`${at}.deviceSubnets`, `${subnet} is already routed to ${owner[1]}`);
        claimed.push([subnet, concentrator.name]);
      });
    }
    const keepalive = concentrator.persistentKeepalive ?? 25;
    checkInteger(keepalive, `${at}.persistentKeepalive`, 0, 65535);
    concentrators.push({
      name: concentrator.name,
      publicKey: concentrator.publicKey,
      ...(endpoint === undefined ? {} : { endpoint }),
      sourceCidrs: [...concentrator.sourceCidrs],
      deviceSubnets: [...subnets],
      persistentKeepalive: keepalive,
      ...(concentrator.presharedKey === undefined ? {} : { presharedKey: concentrator.presharedKey }),
    });
  });
  if (options.uplink.concentrators.length > 1) {
    deviceSubnets
      .filter((subnet) => !claimed.some(([claimedSubnet]) => claimedSubnet === subnet))
      .forEach((subnet) => problem("deviceSubnets", `${subnet} is not routed to any concentrator`));
  }

  const downlinkPorts = [...new Set(options.downlinkPorts ?? [])].sort((a, b) => a - b);
  (options.downlinkPorts ?? []).forEach((port, i) => checkPort(port, `downlinkPorts[${i}]`));
  const adminCidrs = options.adminCidrs ?? [];
  checkCidrs(adminCidrs, "adminCidrs");
  checkInteger(options.devices.expectedCount, "devices.expectedCount", 1, 100_000_000);
  checkInteger(options.devices.reportIntervalSeconds, "devices.reportIntervalSeconds", 1, 86_400);

  const steering = options.steering;
  const ingressNodeLabel = steering.ingressNodeLabel ?? DEFAULT_INGRESS_NODE_LABEL;
  if (!LABEL_KEY.test(ingressNodeLabel.key)) problem("steering.ingressNodeLabel.key", "must be a label key");
  if (!LABEL_VALUE.test(ingressNodeLabel.value)) problem("steering.ingressNodeLabel.value", "must be a label value");
  const envoyPodSelector = steering.envoyPodSelector ?? DEFAULT_ENVOY_POD_SELECTOR;
  if (!LABEL_SELECTOR.test(envoyPodSelector)) problem("steering.envoyPodSelector", "must be an equality-based label selector");
  if (!DNS_LABEL.test(steering.envoyNamespace)) problem("steering.envoyNamespace", "must be a namespace name");
  if (!DNS_LABEL.test(steering.decoderNamespace)) problem("steering.decoderNamespace", "must be a namespace name");
  if (!DNS_LABEL.test(steering.decoderServiceName)) problem("steering.decoderServiceName", "must be a Service name");
  const intervalSeconds = steering.intervalSeconds ?? 5;
  checkInteger(intervalSeconds, "steering.intervalSeconds", 1, 3600);
  const buckets = steering.buckets ?? DEFAULT_STEERING_BUCKETS;
  checkInteger(buckets, "steering.buckets", 1, 4096);
  const hashSeed = steering.hashSeed ?? 0;
  checkInteger(hashSeed, "steering.hashSeed", 0, 0xffffffff);

  const arch = options.tools.arch ?? "amd64";
  if (arch !== "amd64" && arch !== "arm64") problem("tools.arch", "must be amd64 or arm64");
  const resolveDownload = (
    download: DownloadOptions,
    field: string,
    defaultVersion: string,
    defaultUrl: (version: string, arch: string) => string,
  ): Required<DownloadOptions> => {
    const version = download.version ?? defaultVersion;
    if (!VERSION.test(version)) problem(`${field}.version`, "must be an exact version like 1.2.3");
    const url = download.url ?? defaultUrl(version, arch);
    if (!HTTPS_URL.test(url)) problem(`${field}.url`, "must be an https URL without query or spaces");
    if (!SHA256.test(download.sha256)) problem(`${field}.sha256`, "must be 64 lowercase hex digits");
    return { version, url, sha256: download.sha256 };
  };
  const kgctl = resolveDownload(options.tools.kgctl, "tools.kgctl", DEFAULT_KGCTL_VERSION, DEFAULT_KGCTL_URL);
  const kubectl = resolveDownload(options.tools.kubectl, "tools.kubectl", DEFAULT_KUBECTL_VERSION, DEFAULT_KUBECTL_URL);

  const networkBuffers = { ...DEFAULT_NETWORK_BUFFERS, ...options.networkBuffers };
  for (const [key, value] of Object.entries(networkBuffers)) {
    checkInteger(value, `networkBuffers.${key}`, 1, 2 ** 31 - 1);
  }
  const ntpServers = options.ntpServers ?? [];
  ntpServers.forEach((server, i) => {
    if (!NTP_SERVER.test(server)) problem(`ntpServers[${i}]`, "must be a host name or address");
  });

  const nodeExporterPort = options.metrics?.nodeExporterPort ?? NODE_EXPORTER_PORT;
  checkPort(nodeExporterPort, "metrics.nodeExporterPort");
  // SSH is the only other TCP port the gateway listens on.
  if (nodeExporterPort === 22) problem("metrics.nodeExporterPort", "must not be 22 (SSH)");

  if (problems.length > 0) throw new GatewayOptionsError(problems);

  return {
    peerName: options.peerName,
    tunnelAddress: options.tunnelAddress,
    kiloPrivateKey: options.kiloPrivateKey,
    kubeconfig: options.kubeconfig,
    deviceSubnets: [...options.deviceSubnets],
    podCidr: options.cluster.podCidr,
    kiloSubnet,
    kilo: {
      interfaceName: kiloInterface,
      listenPort: kiloPort,
      mtu: kiloMtu,
      resyncPeriodSeconds,
      ...(options.kilo?.meshGranularity === undefined ? {} : { meshGranularity: options.kilo.meshGranularity }),
      ...(topologyLabel === undefined ? {} : { topologyLabel }),
    },
    uplink: {
      interfaceName: uplinkInterface,
      privateKey: options.uplink.privateKey,
      address: options.uplink.address,
      listenPort: uplinkPort,
      mtu: uplinkMtu,
      concentrators,
    },
    ingress: { address: ingressAddress, port: options.ingress.port },
    downlinkSourceRewrite: options.downlinkSourceRewrite ?? false,
    downlinkPorts,
    adminCidrs: [...adminCidrs],
    devices: { ...options.devices },
    steering: {
      ingressNodeLabel: { ...ingressNodeLabel },
      envoyNamespace: steering.envoyNamespace,
      envoyPodSelector,
      decoderNamespace: steering.decoderNamespace,
      decoderServiceName: steering.decoderServiceName,
      intervalSeconds,
      buckets,
      hashSeed,
    },
    tools: { arch, kgctl, kubectl },
    networkBuffers,
    ntpServers: [...ntpServers],
    metrics: { nodeExporterPort },
  };
}
