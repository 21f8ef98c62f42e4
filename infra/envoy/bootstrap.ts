import { posix } from "node:path";
import { parseIpv4Cidr } from "../network/cidr";
import {
  Bootstrap,
  Cluster,
  HTTP_CONNECTION_MANAGER_TYPE,
  HttpListener,
  IP_MATCHER_TYPE,
  Listener,
  ROUTER_TYPE,
  StaticCluster,
  SOURCE_IP_INPUT_TYPE,
  SourceIpRouteMatcher,
  UDP_PROXY_CONFIG_TYPE,
  UDP_PROXY_ROUTE_TYPE,
  UdpProxyConfig,
} from "./envoy-api";

/** Defaults of EnvoyBootstrapOptions. */
export const ENVOY_BOOTSTRAP_DEFAULTS = {
  adminPort: 9901,
  /** TCP port of the stats listener (see statsListener); next to the admin's 9901 as Contour and Istio do. */
  metricsPort: 9902,
  listenerName: "iot_udp",
  statPrefix: "iot_udp",
  clusterName: "decoder",
  nodeId: "iot-udp-ingress",
  idleTimeoutSeconds: 60,
  /** Envoy's own default; set it to the device protocol's largest datagram. */
  maxRxDatagramSize: 1500,
  edsDirectory: "/var/run/envoy-eds",
  edsFileName: "endpoints.json",
} as const;

export interface EnvoyBootstrapOptions {
  /** UDP port the devices send to (the gateway DNATs to it on the node's Kilo IP). */
  listenerPort: number;
  /**
   * IPv4 CIDRs (no host bits) whose datagrams are proxied: the device subnets. Required, at least one. Envoy
   * listens on every host address, so any other source is dropped before it can open a session.
   */
  sourceCidrs: readonly string[];
  /** Cluster circuit breaker max_connections = concurrent session cap (see sizeEnvoySessions). */
  maxConnections: number;
  /** Admin port on 127.0.0.1. Default 9901. */
  adminPort?: number;
  /**
   * TCP port, on every host address, of the listener that serves only /stats/prometheus (proxied to the admin).
   * Must differ from listenerPort and adminPort. Default 9902.
   */
  metricsPort?: number;
  /** Default "iot_udp". */
  listenerName?: string;
  /** Stats land under udp.<statPrefix>.*. Default "iot_udp". */
  statPrefix?: string;
  /** Envoy cluster of the node-local decoder endpoints; the EDS file must use the same name. Default "decoder". */
  clusterName?: string;
  /** Bootstrap node.id and node.cluster; file-based xDS subscriptions require both. Default "iot-udp-ingress". */
  nodeId?: string;
  /** udp_proxy idle_timeout in whole seconds. Default 60. */
  idleTimeoutSeconds?: number;
  /** Largest datagram accepted from devices and from decoders, bytes (1..65535). Default 1500. */
  maxRxDatagramSize?: number;
  /** Absolute directory shared with the EDS sidecar; Envoy watches it for the file being renamed in. Default "/var/run/envoy-eds". */
  edsDirectory?: string;
  /** EDS file name inside edsDirectory; ".json" so Envoy parses it as JSON. Default "endpoints.json". */
  edsFileName?: string;
}

type ResolvedOptions = Required<EnvoyBootstrapOptions>;

export class EnvoyBootstrapOptionsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid Envoy bootstrap options: ${problems.join("; ")}`);
    this.name = "EnvoyBootstrapOptionsError";
  }
}

const UINT32_MAX = 4_294_967_295;
/** Envoy stat names and cluster names: keep to characters that need no escaping in stats. */
const NAME = /^[A-Za-z0-9_.-]+$/;

function integerProblem(name: string, value: number, min: number, max: number): string | undefined {
  return Number.isSafeInteger(value) && value >= min && value <= max
    ? undefined
    : `${name} must be an integer in [${min}, ${max}], got ${String(value)}`;
}

function nameProblem(name: string, value: string): string | undefined {
  return NAME.test(value) ? undefined : `${name} must match ${NAME.source}, got "${value}"`;
}

function optionProblems(o: ResolvedOptions): string[] {
  const problems = [
    integerProblem("listenerPort", o.listenerPort, 1, 65535),
    integerProblem("adminPort", o.adminPort, 1, 65535),
    integerProblem("metricsPort", o.metricsPort, 1, 65535),
    // TCP and UDP ports are separate namespaces, but one number for the device port and the stats port invites a
    // scrape config or firewall rule that opens both; the admin shares TCP with the stats listener, so must differ.
    o.metricsPort === o.listenerPort ? `metricsPort must differ from listenerPort (${o.listenerPort})` : undefined,
    o.metricsPort === o.adminPort ? `metricsPort must differ from adminPort (${o.adminPort})` : undefined,
    integerProblem("maxConnections", o.maxConnections, 1, UINT32_MAX),
    integerProblem("idleTimeoutSeconds", o.idleTimeoutSeconds, 1, 315_576_000_000),
    integerProblem("maxRxDatagramSize", o.maxRxDatagramSize, 1, 65535),
    nameProblem("listenerName", o.listenerName),
    nameProblem("statPrefix", o.statPrefix),
    nameProblem("clusterName", o.clusterName),
    nameProblem("nodeId", o.nodeId),
  ];
  problems.push(...sourceCidrProblems(o.sourceCidrs));
  const dir = o.edsDirectory;
  if (!posix.isAbsolute(dir) || posix.normalize(dir) !== dir || dir.endsWith("/")) {
    problems.push(`edsDirectory must be a normalised absolute path without trailing slash, got "${dir}"`);
  }
  if (!/^[A-Za-z0-9_.-]+\.json$/.test(o.edsFileName)) {
    problems.push(`edsFileName must be a plain file name ending in .json, got "${o.edsFileName}"`);
  }
  return problems.filter((p): p is string => p !== undefined);
}

function sourceCidrProblems(cidrs: readonly string[]): string[] {
  if (!Array.isArray(cidrs) || cidrs.length === 0) return ["sourceCidrs must list at least one device subnet"];
  const problems: string[] = [];
  cidrs.forEach((cidr, index) => {
    try {
      parseIpv4Cidr(cidr);
    } catch (error) {
      problems.push(`sourceCidrs[${index}]: ${(error as Error).message}`);
    }
    if (cidrs.indexOf(cidr) !== index) problems.push(`sourceCidrs[${index}]: ${cidr} is listed twice`);
  });
  return problems;
}

export function resolveEnvoyBootstrapOptions(options: EnvoyBootstrapOptions): ResolvedOptions {
  const resolved: ResolvedOptions = { ...ENVOY_BOOTSTRAP_DEFAULTS, ...stripUndefined(options) };
  const problems = optionProblems(resolved);
  if (problems.length > 0) throw new EnvoyBootstrapOptionsError(problems);
  return resolved;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Where the sidecar writes and Envoy reads the EDS file. */
export function edsFilePath(options: Pick<EnvoyBootstrapOptions, "edsDirectory" | "edsFileName">): string {
  return posix.join(
    options.edsDirectory ?? ENVOY_BOOTSTRAP_DEFAULTS.edsDirectory,
    options.edsFileName ?? ENVOY_BOOTSTRAP_DEFAULTS.edsFileName,
  );
}

/**
 * Routes a datagram to the decoder cluster only when its source IP is inside one of the device subnets.
 *
 * How Envoy evaluates this (read in envoyproxy/envoy):
 * - source/extensions/filters/udp/udp_proxy/router/router_impl.cc: the udp_proxy builds the match tree over
 *   Network::UdpMatchingData and accepts every UDP data input; `route()` returns an empty cluster name when
 *   nothing matches (there is deliberately no on_no_match here).
 * - source/extensions/filters/udp/udp_proxy/udp_proxy_filter.cc, `UdpProxyFilter::onData`: a datagram whose route
 *   names no known cluster increments `udp.<stat_prefix>.downstream_sess_no_route` and is dropped, before any
 *   session (upstream socket, circuit-breaker slot) exists, so spoofed or stray sources cannot use up the budget.
 * - source/extensions/matching/network/common/inputs.cc registers SourceIPInput for UdpMatchingData as
 *   `envoy.matching.inputs.source_ip` (the peer address as a string).
 * - source/extensions/common/matcher/ip_range_matcher.cc (trie_matcher.cc in older trees) registers the
 *   xds.type.matcher.v3.IPMatcher custom matcher for UdpMatchingData; source/common/config/utility.h finds an
 *   extension by its typed_config type URL first, so the factory is found whichever name a release gives it.
 */
function sourceIpMatcher(o: ResolvedOptions): SourceIpRouteMatcher {
  return {
    matcher_tree: {
      input: { name: "envoy.matching.inputs.source_ip", typed_config: { "@type": SOURCE_IP_INPUT_TYPE } },
      custom_match: {
        name: "envoy.matching.custom_matchers.ip_range_matcher",
        typed_config: {
          "@type": IP_MATCHER_TYPE,
          range_matchers: [
            {
              ranges: o.sourceCidrs.map((cidr) => {
                const { address, prefixLength } = parseIpv4Cidr(cidr);
                return { address_prefix: address, prefix_len: prefixLength };
              }),
              on_match: { action: { name: "route", typed_config: { "@type": UDP_PROXY_ROUTE_TYPE, cluster: o.clusterName } } },
            },
          ],
        },
      },
    },
  };
}

function udpProxyConfig(o: ResolvedOptions): UdpProxyConfig {
  return {
    "@type": UDP_PROXY_CONFIG_TYPE,
    stat_prefix: o.statPrefix,
    // `cluster` is deprecated; only device sources get a route, every other datagram is counted and dropped.
    matcher: sourceIpMatcher(o),
    idle_timeout: `${o.idleTimeoutSeconds}s`,
    // Decoders must see the device address; needs CAP_NET_ADMIN (IP_TRANSPARENT) in the Envoy container.
    use_original_src_ip: true,
    // MAGLEV hashes the source IP, so a device whose source port changes stays on the same decoder.
    hash_policies: [{ source_ip: true }],
    upstream_socket_config: { max_rx_datagram_size: o.maxRxDatagramSize },
  };
}

function listener(o: ResolvedOptions): Listener {
  return {
    name: o.listenerName,
    address: { socket_address: { protocol: "UDP", address: "0.0.0.0", port_value: o.listenerPort } },
    udp_listener_config: {
      // prefer_gro stated explicitly (envoy#42561: coalesced datagrams with host networking). Envoy 1.40 documents
      // false as the listener default (api/envoy/config/listener/v3/udp_listener_config.proto); writing it down
      // keeps a future default change from turning GRO on under a host-network listener.
      downstream_socket_config: { max_rx_datagram_size: o.maxRxDatagramSize, prefer_gro: false },
    },
    listener_filters: [{ name: "envoy.filters.udp_listener.udp_proxy", typed_config: udpProxyConfig(o) }],
  };
}

function cluster(o: ResolvedOptions): Cluster {
  return {
    name: o.clusterName,
    type: "EDS",
    eds_cluster_config: {
      eds_config: {
        // The sidecar renames a new file into the directory; watching the directory catches that move.
        path_config_source: { path: edsFilePath(o), watched_directory: { path: o.edsDirectory } },
        resource_api_version: "V3",
      },
      service_name: o.clusterName,
    },
    lb_policy: "MAGLEV",
    circuit_breakers: {
      // Every session holds one connection slot; above the cap datagrams are dropped and counted in upstream_cx_overflow.
      thresholds: [{ priority: "DEFAULT", max_connections: o.maxConnections, track_remaining: true }],
    },
  };
}

/** Name of the static cluster that reaches the admin on loopback; only the stats listener routes to it. */
export const ADMIN_CLUSTER_NAME = "envoy_admin";
/** The one admin path the stats listener forwards. */
export const PROMETHEUS_STATS_PATH = "/stats/prometheus";

/**
 * Prometheus stats without the admin API: the admin (which can also quit Envoy, reset counters or dump config) stays
 * on 127.0.0.1, and this listener on every host address forwards only /stats/prometheus to it through a static
 * cluster; every other request gets a 404 from Envoy itself. The same pattern as Contour's stats listener
 * (projectcontour/contour internal/envoy/v3/stats.go: StatsListeners / routeForAdminInterface, an
 * http_connection_manager whose routes match exact admin paths and point at a static "envoy-admin" cluster) and
 * Istio's "prometheus_stats" bootstrap cluster. Contour also requires a GET :method header; that is left out here
 * because /stats/prometheus does nothing else for any method, and a plain `:method` key is YAML that not every
 * parser reads alike. Envoy's `path` match compares the path
 * with the query string removed (api/envoy/config/route/v3/route_components.proto, RouteMatch.path), so Prometheus'
 * `?usedonly` style parameters still reach the admin while `/stats/prometheus/../quitquitquit` does not match.
 */
function statsListener(o: ResolvedOptions): HttpListener {
  return {
    name: "prometheus_stats",
    address: { socket_address: { protocol: "TCP", address: "0.0.0.0", port_value: o.metricsPort } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HTTP_CONNECTION_MANAGER_TYPE,
              stat_prefix: "prometheus_stats",
              route_config: {
                name: "prometheus_stats",
                virtual_hosts: [
                  {
                    name: "prometheus_stats",
                    domains: ["*"],
                    routes: [
                      {
                        match: { path: PROMETHEUS_STATS_PATH },
                        route: { cluster: ADMIN_CLUSTER_NAME },
                      },
                      { match: { prefix: "/" }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
            },
          },
        ],
      },
    ],
  };
}

function adminCluster(o: ResolvedOptions): StaticCluster {
  return {
    name: ADMIN_CLUSTER_NAME,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: ADMIN_CLUSTER_NAME,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort } } } }] }],
    },
  };
}

export function renderEnvoyBootstrap(options: EnvoyBootstrapOptions): Bootstrap {
  const o = resolveEnvoyBootstrapOptions(options);
  return {
    node: { id: o.nodeId, cluster: o.nodeId },
    // Admin has no authentication: loopback only (hostNetwork would otherwise expose it on the node).
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort } } },
    static_resources: { listeners: [listener(o), statsListener(o)], clusters: [cluster(o), adminCluster(o)] },
  };
}
