import { createHash } from "node:crypto";
import { parse } from "yaml";
import {
  Bootstrap,
  EDS_DIRECTORY,
  EDS_FILE_PATH,
  ENVOY_DECODER_CLUSTER,
  ENVOY_LISTENER_NAME,
  ENVOY_NODE_ID,
  ENVOY_STAT_PREFIX,
  envoyBootstrapHash,
  renderEnvoyBootstrap,
  resolveEnvoyPlan,
  serializeEnvoyBootstrap,
} from "../../infra/envoy";
import { base, baseInput, full } from "./support/plans";

// Envoy's own API judges these bootstraps in bootstrap.system-test.ts.

const expectedDefault: Bootstrap = {
  node: { id: "iot-udp-ingress", cluster: "iot-udp-ingress" },
  admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
  static_resources: {
    listeners: [
      {
        name: "iot_udp",
        address: { socket_address: { protocol: "UDP", address: "0.0.0.0", port_value: 5683 } },
        udp_listener_config: { downstream_socket_config: { max_rx_datagram_size: 1500, prefer_gro: false } },
        listener_filters: [
          {
            name: "envoy.filters.udp_listener.udp_proxy",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig",
              stat_prefix: "iot_udp",
              matcher: {
                matcher_tree: {
                  input: {
                    name: "envoy.matching.inputs.source_ip",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput" },
                  },
                  custom_match: {
                    name: "envoy.matching.custom_matchers.ip_range_matcher",
                    typed_config: {
                      "@type": "type.googleapis.com/xds.type.matcher.v3.IPMatcher",
                      range_matchers: [
                        {
                          ranges: [
                            { address_prefix: "10.128.0.0", prefix_len: 14 },
                            { address_prefix: "10.160.0.0", prefix_len: 16 },
                          ],
                          on_match: {
                            action: {
                              name: "route",
                              typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route", cluster: "decoder" },
                            },
                          },
                        },
                      ],
                    },
                  },
                },
              },
              idle_timeout: "60s",
              use_original_src_ip: true,
              hash_policies: [{ source_ip: true }],
              upstream_socket_config: { max_rx_datagram_size: 1500 },
            },
          },
        ],
      },
      {
        name: "prometheus_stats",
        address: { socket_address: { protocol: "TCP", address: "0.0.0.0", port_value: 9902 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  stat_prefix: "prometheus_stats",
                  route_config: {
                    name: "prometheus_stats",
                    virtual_hosts: [
                      {
                        name: "prometheus_stats",
                        domains: ["*"],
                        routes: [
                          {
                            match: { path: "/stats/prometheus" },
                            route: { cluster: "envoy_admin" },
                          },
                          { match: { prefix: "/" }, direct_response: { status: 404 } },
                        ],
                      },
                    ],
                  },
                  http_filters: [
                    { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: "decoder",
        type: "EDS",
        eds_cluster_config: {
          eds_config: {
            path_config_source: {
              path: "/var/run/envoy-eds/endpoints.json",
              watched_directory: { path: "/var/run/envoy-eds" },
            },
            resource_api_version: "V3",
          },
          service_name: "decoder",
        },
        lb_policy: "MAGLEV",
        circuit_breakers: { thresholds: [{ priority: "DEFAULT", max_connections: 18750, track_remaining: true }] },
      },
      {
        name: "envoy_admin",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: {
          cluster_name: "envoy_admin",
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } } }] }],
        },
      },
    ],
  },
};

const expectedDefaultYaml = `node:
  id: iot-udp-ingress
  cluster: iot-udp-ingress
admin:
  address:
    socket_address:
      address: 127.0.0.1
      port_value: 9901
static_resources:
  listeners:
    - name: iot_udp
      address:
        socket_address:
          protocol: UDP
          address: 0.0.0.0
          port_value: 5683
      udp_listener_config:
        downstream_socket_config:
          max_rx_datagram_size: 1500
          prefer_gro: false
      listener_filters:
        - name: envoy.filters.udp_listener.udp_proxy
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig
            stat_prefix: iot_udp
            matcher:
              matcher_tree:
                input:
                  name: envoy.matching.inputs.source_ip
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput
                custom_match:
                  name: envoy.matching.custom_matchers.ip_range_matcher
                  typed_config:
                    "@type": type.googleapis.com/xds.type.matcher.v3.IPMatcher
                    range_matchers:
                      - ranges:
                          - address_prefix: 10.128.0.0
                            prefix_len: 14
                          - address_prefix: 10.160.0.0
                            prefix_len: 16
                        on_match:
                          action:
                            name: route
                            typed_config:
                              "@type": type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route
                              cluster: decoder
            idle_timeout: 60s
            use_original_src_ip: true
            hash_policies:
              - source_ip: true
            upstream_socket_config:
              max_rx_datagram_size: 1500
    - name: prometheus_stats
      address:
        socket_address:
          protocol: TCP
          address: 0.0.0.0
          port_value: 9902
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: prometheus_stats
                route_config:
                  name: prometheus_stats
                  virtual_hosts:
                    - name: prometheus_stats
                      domains:
                        - "*"
                      routes:
                        - match:
                            path: /stats/prometheus
                          route:
                            cluster: envoy_admin
                        - match:
                            prefix: /
                          direct_response:
                            status: 404
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: decoder
      type: EDS
      eds_cluster_config:
        eds_config:
          path_config_source:
            path: /var/run/envoy-eds/endpoints.json
            watched_directory:
              path: /var/run/envoy-eds
          resource_api_version: V3
        service_name: decoder
      lb_policy: MAGLEV
      circuit_breakers:
        thresholds:
          - priority: DEFAULT
            max_connections: 18750
            track_remaining: true
    - name: envoy_admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: envoy_admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: 127.0.0.1
                      port_value: 9901
`;

describe("renderEnvoyBootstrap", () => {
  it("renders the default plan's bootstrap exactly", () => {
    expect(renderEnvoyBootstrap(base)).toStrictEqual(expectedDefault);
  });

  it("threads every value of the plan into its field", () => {
    const b = renderEnvoyBootstrap(full);
    const listener = b.static_resources.listeners[0]!;
    const proxy = listener.listener_filters[0]!.typed_config;
    const cluster = b.static_resources.clusters[0]!;
    expect(b.admin.address.socket_address).toStrictEqual({ address: "127.0.0.1", port_value: 19000 });
    expect(listener.address.socket_address).toStrictEqual({ protocol: "UDP", address: "0.0.0.0", port_value: 30001 });
    expect(listener.udp_listener_config.downstream_socket_config).toStrictEqual({ max_rx_datagram_size: 512, prefer_gro: false });
    expect(proxy.matcher.matcher_tree.custom_match.typed_config.range_matchers[0]!.ranges).toStrictEqual([{ address_prefix: "192.0.2.0", prefix_len: 24 }]);
    expect(proxy.idle_timeout).toBe("120s");
    expect(proxy.upstream_socket_config.max_rx_datagram_size).toBe(512);
    expect(cluster.circuit_breakers.thresholds).toStrictEqual([{ priority: "DEFAULT", max_connections: 1500, track_remaining: true }]);
    expect(b.static_resources.listeners[1]!.address.socket_address).toStrictEqual({ protocol: "TCP", address: "0.0.0.0", port_value: 19100 });
  });

  it("writes the fixed names, which the EDS sidecar, the DaemonSet and the alert rules repeat, whatever the plan", () => {
    expect([ENVOY_LISTENER_NAME, ENVOY_STAT_PREFIX, ENVOY_DECODER_CLUSTER, ENVOY_NODE_ID]).toStrictEqual(["iot_udp", "iot_udp", "decoder", "iot-udp-ingress"]);
    expect([EDS_DIRECTORY, EDS_FILE_PATH]).toStrictEqual(["/var/run/envoy-eds", "/var/run/envoy-eds/endpoints.json"]);
    const b = renderEnvoyBootstrap(full);
    const proxy = b.static_resources.listeners[0]!.listener_filters[0]!.typed_config;
    expect(b.node).toStrictEqual({ id: "iot-udp-ingress", cluster: "iot-udp-ingress" });
    expect(b.static_resources.listeners[0]!.name).toBe("iot_udp");
    expect(proxy.stat_prefix).toBe("iot_udp");
    expect(proxy.matcher.matcher_tree.custom_match.typed_config.range_matchers[0]!.on_match.action.typed_config.cluster).toBe("decoder");
    expect(b.static_resources.clusters[0]!.name).toBe("decoder");
    expect(b.static_resources.clusters[0]!.eds_cluster_config).toStrictEqual({
      eds_config: {
        path_config_source: { path: "/var/run/envoy-eds/endpoints.json", watched_directory: { path: "/var/run/envoy-eds" } },
        resource_api_version: "V3",
      },
      service_name: "decoder",
    });
  });

  it("serves only /stats/prometheus on the metrics port, through a static cluster to the loopback admin", () => {
    const b = renderEnvoyBootstrap(resolveEnvoyPlan({ ...baseInput, adminPort: 19000, metricsPort: 19100 }));
    const stats = b.static_resources.listeners[1];
    expect(stats.address.socket_address).toStrictEqual({ protocol: "TCP", address: "0.0.0.0", port_value: 19100 });
    const routes = stats.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    expect(routes).toStrictEqual([
      { match: { path: "/stats/prometheus" }, route: { cluster: "envoy_admin" } },
      { match: { prefix: "/" }, direct_response: { status: 404 } },
    ]);
    expect(b.static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toStrictEqual({
      address: "127.0.0.1",
      port_value: 19000,
    });
    // The admin itself never leaves loopback.
    expect(b.admin.address.socket_address.address).toBe("127.0.0.1");
  });
});

describe("serialisation and hash", () => {
  const bootstrap = renderEnvoyBootstrap(base);

  it("serialises to exactly this YAML", () => {
    expect(serializeEnvoyBootstrap(bootstrap)).toBe(expectedDefaultYaml);
  });

  it("YAML and JSON both read back to the same object", () => {
    expect(parse(serializeEnvoyBootstrap(bootstrap, "yaml"))).toStrictEqual(expectedDefault);
    expect(JSON.parse(serializeEnvoyBootstrap(bootstrap, "json"))).toStrictEqual(expectedDefault);
  });

  it("hashes the serialised text with sha256", () => {
    const hash = envoyBootstrapHash(bootstrap);
    expect(hash).toBe(createHash("sha256").update(expectedDefaultYaml).digest("hex"));
    expect(envoyBootstrapHash(bootstrap, "json")).toBe(createHash("sha256").update(serializeEnvoyBootstrap(bootstrap, "json")).digest("hex"));
  });

  it("keeps the hash for equal options and changes it when any value changes", () => {
    const same = renderEnvoyBootstrap(resolveEnvoyPlan(baseInput));
    const other = renderEnvoyBootstrap(resolveEnvoyPlan({ ...baseInput, sessions: { ...baseInput.sessions, devices: 250_001 } }));
    expect(envoyBootstrapHash(same)).toBe(envoyBootstrapHash(bootstrap));
    expect(envoyBootstrapHash(other)).not.toBe(envoyBootstrapHash(bootstrap));
  });
});
