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

export interface UdpListenerConfig {
  downstream_socket_config: UdpSocketConfig;
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

/** xds.type.matcher.v3.Matcher reduced to the "no match list, always this action" form. */
export interface RouteMatcher {
  on_no_match: { action: RouteAction };
}

export interface UdpProxyHashPolicy {
  source_ip: true;
}

/** envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig, packed in an Any. */
export interface UdpProxyConfig {
  "@type": typeof UDP_PROXY_CONFIG_TYPE;
  stat_prefix: string;
  matcher: RouteMatcher;
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

export interface StaticResources {
  listeners: Listener[];
  clusters: Cluster[];
}

/** envoy.config.bootstrap.v3.Bootstrap */
export interface Bootstrap {
  node: Node;
  admin: Admin;
  static_resources: StaticResources;
}
