/**
 * The subset of the Envoy v3 API this project emits, in the proto3 JSON form Envoy reads
 * (snake_case field names, Durations as "<seconds>s", wrapper types as plain values).
 * Field names and nesting follow envoy/config/bootstrap/v3/bootstrap.proto and the protos it
 * imports; the test suite checks rendered objects against those protos.
 */

/** google.protobuf.Duration in JSON form, e.g. "60s". */
export type DurationString = `${number}s`;

export interface SocketAddress {
  protocol?: "TCP" | "UDP";
  address: string;
  port_value: number;
}

export interface Address {
  socket_address: SocketAddress;
}

export interface Node {
  id: string;
  cluster: string;
}

export interface Admin {
  address: Address;
}

/** envoy.config.core.v3.UdpSocketConfig */
export interface UdpSocketConfig {
  /** UInt64Value; Envoy drops received datagrams larger than this (default 1500). */
  max_rx_datagram_size: number;
}

/** The listener's UdpSocketConfig: GRO is always stated, never left to a context-dependent default. */
export interface DownstreamUdpSocketConfig extends UdpSocketConfig {
  /** BoolValue; whether Envoy asks the kernel for UDP GRO (coalesced datagrams) on the listener socket. */
  prefer_gro: boolean;
}

export interface UdpListenerConfig {
  downstream_socket_config: DownstreamUdpSocketConfig;
}

export const UDP_PROXY_CONFIG_TYPE = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";
export const UDP_PROXY_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route";

/** envoy.extensions.filters.udp.udp_proxy.v3.Route, packed in an Any. */
export interface UdpProxyRoute {
  "@type": typeof UDP_PROXY_ROUTE_TYPE;
  cluster: string;
}

/** xds.core.v3.TypedExtensionConfig carrying the route action. */
export interface RouteAction {
  name: string;
  typed_config: UdpProxyRoute;
}

export const SOURCE_IP_INPUT_TYPE = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput";
export const IP_MATCHER_TYPE = "type.googleapis.com/xds.type.matcher.v3.IPMatcher";

/** xds.core.v3.CidrRange; prefix_len is a UInt32Value (0..32 for IPv4, 0..128 for IPv6). */
export interface CidrRange {
  address_prefix: string;
  prefix_len: number;
}

/** xds.type.matcher.v3.IPMatcher.IPRangeMatcher: any of `ranges` selects `on_match`. */
export interface IpRangeMatcher {
  ranges: CidrRange[];
  on_match: { action: RouteAction };
}

/**
 * xds.type.matcher.v3.Matcher in the "match tree on the datagram's source IP" form: an IPMatcher custom match over
 * envoy.matching.inputs.source_ip. It has no on_no_match on purpose: a source outside every range has no route.
 */
export interface SourceIpRouteMatcher {
  matcher_tree: {
    input: { name: string; typed_config: { "@type": typeof SOURCE_IP_INPUT_TYPE } };
    custom_match: { name: string; typed_config: { "@type": typeof IP_MATCHER_TYPE; range_matchers: IpRangeMatcher[] } };
  };
}

export interface UdpProxyHashPolicy {
  source_ip: true;
}

/** envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig, packed in an Any. */
export interface UdpProxyConfig {
  "@type": typeof UDP_PROXY_CONFIG_TYPE;
  stat_prefix: string;
  matcher: SourceIpRouteMatcher;
  idle_timeout: DurationString;
  use_original_src_ip: boolean;
  hash_policies: [UdpProxyHashPolicy];
  upstream_socket_config: UdpSocketConfig;
}

export interface ListenerFilter {
  name: string;
  typed_config: UdpProxyConfig;
}

export interface Listener {
  name: string;
  address: Address;
  udp_listener_config: UdpListenerConfig;
  listener_filters: ListenerFilter[];
}

export interface WatchedDirectory {
  path: string;
}

export interface PathConfigSource {
  path: string;
  watched_directory: WatchedDirectory;
}

export interface ConfigSource {
  path_config_source: PathConfigSource;
  resource_api_version: "V3";
}

export interface EdsClusterConfig {
  eds_config: ConfigSource;
  service_name: string;
}

/** envoy.config.cluster.v3.CircuitBreakers.Thresholds; UInt32Value fields as numbers. */
export interface CircuitBreakerThresholds {
  priority: "DEFAULT" | "HIGH";
  /** For udp_proxy this caps concurrent sessions (one upstream socket each). */
  max_connections: number;
  track_remaining: boolean;
}

export interface Cluster {
  name: string;
  type: "EDS";
  eds_cluster_config: EdsClusterConfig;
  lb_policy: "MAGLEV";
  circuit_breakers: { thresholds: CircuitBreakerThresholds[] };
}

export const HTTP_CONNECTION_MANAGER_TYPE =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** envoy.config.route.v3.Route: an exact path (query string excluded, as Envoy matches `path`). */
export interface StatsRoute {
  match: { path: string };
  route: { cluster: string };
}

/** envoy.config.route.v3.Route answering every other request itself. */
export interface NotFoundRoute {
  match: { prefix: "/" };
  direct_response: { status: 404 };
}

/** envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, packed in an Any. */
export interface HttpConnectionManager {
  "@type": typeof HTTP_CONNECTION_MANAGER_TYPE;
  stat_prefix: string;
  route_config: {
    name: string;
    virtual_hosts: [{ name: string; domains: ["*"]; routes: [StatsRoute, NotFoundRoute] }];
  };
  http_filters: [{ name: "envoy.filters.http.router"; typed_config: { "@type": typeof ROUTER_TYPE } }];
}

/** A TCP listener serving HTTP: the stats listener in front of the admin. */
export interface HttpListener {
  name: string;
  address: Address;
  filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager"; typed_config: HttpConnectionManager }] }];
}

/** envoy.config.cluster.v3.Cluster of fixed addresses (the admin's loopback address). */
export interface StaticCluster {
  name: string;
  type: "STATIC";
  connect_timeout: DurationString;
  load_assignment: {
    cluster_name: string;
    endpoints: [{ lb_endpoints: [{ endpoint: { address: Address } }] }];
  };
}

export interface StaticResources {
  /** The device listener first, then the stats listener. */
  listeners: [Listener, HttpListener];
  /** The decoder cluster first, then the admin cluster the stats listener routes to. */
  clusters: [Cluster, StaticCluster];
}

/** envoy.config.bootstrap.v3.Bootstrap */
export interface Bootstrap {
  node: Node;
  admin: Admin;
  static_resources: StaticResources;
}
