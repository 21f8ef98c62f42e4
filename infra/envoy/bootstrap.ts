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
import type { EnvoyPlan } from "./plan";

/*
 * Names inside the bootstrap that other artifacts repeat. They are constants, not options: no deployment needs other
 * values, and each has a second reader that an option would silently leave behind (the alert rules and the dashboard
 * query the stat prefix and the cluster name, the EDS sidecar writes the cluster name into its file, the DaemonSet
 * mounts the EDS directory into both containers).
 */

/** The UDP listener of the devices. */
export const ENVOY_LISTENER_NAME = "iot_udp";
/** udp_proxy stat_prefix: stats land under `udp.iot_udp.*` (`envoy_udp_*{envoy_udp_prefix="iot_udp"}` in Prometheus). */
export const ENVOY_STAT_PREFIX = "iot_udp";
/** Envoy cluster of the node-local decoder endpoints; the EDS file must name the same cluster. */
export const ENVOY_DECODER_CLUSTER = "decoder";
/** Bootstrap node.id and node.cluster; file-based xDS subscriptions require both. */
export const ENVOY_NODE_ID = "iot-udp-ingress";
/**
 * Directory shared by the EDS sidecar and Envoy, mounted in both containers by EnvoyUdpIngress. Envoy watches the
 * directory (not the file) for a file moved in (source/common/config/watched_directory.cc adds an inotify watch for
 * MovedTo on `<path>/`), which is how the sidecar replaces the file atomically.
 */
export const EDS_DIRECTORY = "/var/run/envoy-eds";
/**
 * The EDS file the sidecar writes and Envoy reads. ".json": Envoy picks the parser by extension and reads anything
 * that is not .yaml or .pb_text as JSON (source/common/protobuf/utility.cc, MessageUtil::loadFromFile).
 */
export const EDS_FILE_PATH = `${EDS_DIRECTORY}/endpoints.json`;

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
function sourceIpMatcher(plan: EnvoyPlan): SourceIpRouteMatcher {
  return {
    matcher_tree: {
      input: { name: "envoy.matching.inputs.source_ip", typed_config: { "@type": SOURCE_IP_INPUT_TYPE } },
      custom_match: {
        name: "envoy.matching.custom_matchers.ip_range_matcher",
        typed_config: {
          "@type": IP_MATCHER_TYPE,
          range_matchers: [
            {
              ranges: plan.deviceSubnets.map((cidr) => {
                const { address, prefixLength } = parseIpv4Cidr(cidr);
                return { address_prefix: address, prefix_len: prefixLength };
              }),
              on_match: { action: { name: "route", typed_config: { "@type": UDP_PROXY_ROUTE_TYPE, cluster: ENVOY_DECODER_CLUSTER } } },
            },
          ],
        },
      },
    },
  };
}

function udpProxyConfig(plan: EnvoyPlan): UdpProxyConfig {
  return {
    "@type": UDP_PROXY_CONFIG_TYPE,
    stat_prefix: ENVOY_STAT_PREFIX,
    // `cluster` is deprecated; only device sources get a route, every other datagram is counted and dropped.
    matcher: sourceIpMatcher(plan),
    idle_timeout: `${plan.idleTimeoutSeconds}s`,
    // Decoders must see the device address; needs CAP_NET_ADMIN (IP_TRANSPARENT) in the Envoy container.
    use_original_src_ip: true,
    // MAGLEV hashes the source IP, so a device whose source port changes stays on the same decoder.
    hash_policies: [{ source_ip: true }],
    upstream_socket_config: { max_rx_datagram_size: plan.maxDatagramBytes },
  };
}

function listener(plan: EnvoyPlan): Listener {
  return {
    name: ENVOY_LISTENER_NAME,
    address: { socket_address: { protocol: "UDP", address: "0.0.0.0", port_value: plan.listenerPort } },
    udp_listener_config: {
      // prefer_gro stated explicitly (envoy#42561: coalesced datagrams with host networking). Envoy 1.40 documents
      // false as the listener default (api/envoy/config/listener/v3/udp_listener_config.proto); writing it down
      // keeps a future default change from turning GRO on under a host-network listener.
      downstream_socket_config: { max_rx_datagram_size: plan.maxDatagramBytes, prefer_gro: false },
    },
    listener_filters: [{ name: "envoy.filters.udp_listener.udp_proxy", typed_config: udpProxyConfig(plan) }],
  };
}

function cluster(plan: EnvoyPlan): Cluster {
  return {
    name: ENVOY_DECODER_CLUSTER,
    type: "EDS",
    eds_cluster_config: {
      eds_config: {
        // The sidecar renames a new file into the directory; watching the directory catches that move.
        path_config_source: { path: EDS_FILE_PATH, watched_directory: { path: EDS_DIRECTORY } },
        resource_api_version: "V3",
      },
      service_name: ENVOY_DECODER_CLUSTER,
    },
    lb_policy: "MAGLEV",
    circuit_breakers: {
      // Every session holds one connection slot; above the cap datagrams are dropped and counted in upstream_cx_overflow.
      thresholds: [{ priority: "DEFAULT", max_connections: plan.sizing.maxConnections, track_remaining: true }],
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
function statsListener(plan: EnvoyPlan): HttpListener {
  return {
    name: "prometheus_stats",
    address: { socket_address: { protocol: "TCP", address: "0.0.0.0", port_value: plan.metricsPort } },
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

function adminCluster(plan: EnvoyPlan): StaticCluster {
  return {
    name: ADMIN_CLUSTER_NAME,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: ADMIN_CLUSTER_NAME,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: plan.adminPort } } } }] }],
    },
  };
}

/** Envoy's bootstrap for a resolved plan (resolveEnvoyPlan): every value is checked there, none here. */
export function renderEnvoyBootstrap(plan: EnvoyPlan): Bootstrap {
  return {
    node: { id: ENVOY_NODE_ID, cluster: ENVOY_NODE_ID },
    // Admin has no authentication: loopback only (hostNetwork would otherwise expose it on the node).
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: plan.adminPort } } },
    static_resources: { listeners: [listener(plan), statsListener(plan)], clusters: [cluster(plan), adminCluster(plan)] },
  };
}
