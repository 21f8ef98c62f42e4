import { createHash } from "node:crypto";
import { parse } from "yaml";
import {
  Bootstrap,
  EnvoyBootstrapOptionsError,
  edsFilePath,
  envoyBootstrapHash,
  renderEnvoyBootstrap,
  serializeEnvoyBootstrap,
} from "../../infra/envoy";
import { ENVOY_API_BUILD_TIMEOUT_MS, describeProblems, envoyApiChecker, envoyApiProblems, envoyApiTextProblems } from "./support/envoy-api";

const DEVICES = ["10.128.0.0/14", "10.160.0.0/16"];
const base = { listenerPort: 5683, maxConnections: 75000, sourceCidrs: DEVICES };

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
        circuit_breakers: { thresholds: [{ priority: "DEFAULT", max_connections: 75000, track_remaining: true }] },
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
            max_connections: 75000
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

const fullOptions = {
  listenerPort: 30001,
  sourceCidrs: ["192.0.2.0/24"],
  maxConnections: 300000,
  adminPort: 19000,
  listenerName: "devices",
  statPrefix: "devices_in",
  clusterName: "lpwan-decoder",
  nodeId: "edge",
  idleTimeoutSeconds: 120,
  maxRxDatagramSize: 512,
  edsDirectory: "/eds",
  edsFileName: "decoder.json",
};

describe("renderEnvoyBootstrap", () => {
  it("renders the default bootstrap exactly", () => {
    expect(renderEnvoyBootstrap(base)).toStrictEqual(expectedDefault);
  });

  it("threads every option into its field", () => {
    const b = renderEnvoyBootstrap(fullOptions);
    const listener = b.static_resources.listeners[0]!;
    const proxy = listener.listener_filters[0]!.typed_config;
    const cluster = b.static_resources.clusters[0]!;
    expect(b.node).toStrictEqual({ id: "edge", cluster: "edge" });
    expect(b.admin.address.socket_address).toStrictEqual({ address: "127.0.0.1", port_value: 19000 });
    expect(listener.name).toBe("devices");
    expect(listener.address.socket_address).toStrictEqual({ protocol: "UDP", address: "0.0.0.0", port_value: 30001 });
    expect(listener.udp_listener_config.downstream_socket_config).toStrictEqual({ max_rx_datagram_size: 512, prefer_gro: false });
    expect(proxy.stat_prefix).toBe("devices_in");
    expect(proxy.matcher.matcher_tree.custom_match.typed_config.range_matchers).toStrictEqual([
      {
        ranges: [{ address_prefix: "192.0.2.0", prefix_len: 24 }],
        on_match: {
          action: {
            name: "route",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route", cluster: "lpwan-decoder" },
          },
        },
      },
    ]);
    expect(proxy.idle_timeout).toBe("120s");
    expect(proxy.upstream_socket_config.max_rx_datagram_size).toBe(512);
    expect(cluster.name).toBe("lpwan-decoder");
    expect(cluster.eds_cluster_config).toStrictEqual({
      eds_config: {
        path_config_source: { path: "/eds/decoder.json", watched_directory: { path: "/eds" } },
        resource_api_version: "V3",
      },
      service_name: "lpwan-decoder",
    });
    expect(cluster.circuit_breakers.thresholds).toStrictEqual([{ priority: "DEFAULT", max_connections: 300000, track_remaining: true }]);
  });

  it("keeps defaults for options passed as undefined", () => {
    expect(renderEnvoyBootstrap({ ...base, adminPort: undefined, clusterName: undefined })).toStrictEqual(
      expectedDefault,
    );
  });

  it("serves only /stats/prometheus on the metrics port, through a static cluster to the loopback admin", () => {
    const b = renderEnvoyBootstrap({ ...base, adminPort: 19000, metricsPort: 19100 });
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

  it("gives the EDS file path the sidecar must write", () => {
    expect(edsFilePath({})).toBe("/var/run/envoy-eds/endpoints.json");
    expect(edsFilePath({ edsDirectory: "/eds", edsFileName: "x.json" })).toBe("/eds/x.json");
  });

  it.each([
    [{ listenerPort: 0 }, "listenerPort must be an integer in [1, 65535], got 0"],
    [{ listenerPort: 65536 }, "listenerPort must be an integer in [1, 65535], got 65536"],
    [{ listenerPort: 53.5 }, "listenerPort must be an integer in [1, 65535], got 53.5"],
    [{ adminPort: -1 }, "adminPort must be an integer in [1, 65535], got -1"],
    [{ metricsPort: 70000 }, "metricsPort must be an integer in [1, 65535], got 70000"],
    [{ metricsPort: 5683 }, "metricsPort must differ from listenerPort (5683)"],
    [{ metricsPort: 9901 }, "metricsPort must differ from adminPort (9901)"],
    [{ maxConnections: 0 }, "maxConnections must be an integer in [1, 4294967295], got 0"],
    [{ maxConnections: 2 ** 32 }, "maxConnections must be an integer in [1, 4294967295], got 4294967296"],
    [{ idleTimeoutSeconds: 0 }, "idleTimeoutSeconds must be an integer in [1, 315576000000], got 0"],
    [{ maxRxDatagramSize: 65536 }, "maxRxDatagramSize must be an integer in [1, 65535], got 65536"],
    [{ statPrefix: "" }, 'statPrefix must match ^[A-Za-z0-9_.-]+$, got ""'],
    [{ clusterName: "decoder pods" }, 'clusterName must match ^[A-Za-z0-9_.-]+$, got "decoder pods"'],
    [{ edsDirectory: "eds" }, 'edsDirectory must be a normalised absolute path without trailing slash, got "eds"'],
    [{ edsDirectory: "/eds/" }, 'edsDirectory must be a normalised absolute path without trailing slash, got "/eds/"'],
    [{ edsDirectory: "/a/../eds" }, 'edsDirectory must be a normalised absolute path without trailing slash, got "/a/../eds"'],
    [{ edsFileName: "endpoints.yaml" }, 'edsFileName must be a plain file name ending in .json, got "endpoints.yaml"'],
    [{ edsFileName: "sub/endpoints.json" }, 'edsFileName must be a plain file name ending in .json, got "sub/endpoints.json"'],
    [{ sourceCidrs: [] }, "sourceCidrs must list at least one device subnet"],
    [{ sourceCidrs: ["10.128.0.1/14"] }, 'sourceCidrs[0]: "10.128.0.1/14" has host bits set; the network is 10.128.0.0/14'],
    [{ sourceCidrs: ["0.0.0.0/0", "devices"] }, 'sourceCidrs[1]: "devices" is not an IPv4 CIDR like 10.128.0.0/14'],
    [{ sourceCidrs: ["10.160.0.0/16", "10.160.0.0/16"] }, "sourceCidrs[1]: 10.160.0.0/16 is listed twice"],
  ])("rejects %j", (override, problem) => {
    const render = () => renderEnvoyBootstrap({ ...base, ...override });
    expect(render).toThrow(EnvoyBootstrapOptionsError);
    expect(render).toThrow(`invalid Envoy bootstrap options: ${problem}`);
  });

  it("lists every problem at once", () => {
    try {
      renderEnvoyBootstrap({ listenerPort: 0, maxConnections: -5, nodeId: "a b", sourceCidrs: DEVICES });
      throw new Error("expected a throw");
    } catch (error) {
      expect(error).toBeInstanceOf(EnvoyBootstrapOptionsError);
      expect((error as EnvoyBootstrapOptionsError).problems).toStrictEqual([
        "listenerPort must be an integer in [1, 65535], got 0",
        "maxConnections must be an integer in [1, 4294967295], got -5",
        'nodeId must match ^[A-Za-z0-9_.-]+$, got "a b"',
      ]);
    }
  });
});

describe("bootstrap against Envoy's own API (tools/envoy-api, Envoy 1.40)", () => {
  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);

  it("the default and a fully customised bootstrap are valid envoy.config.bootstrap.v3.Bootstrap", () => {
    expect(envoyApiProblems("bootstrap", renderEnvoyBootstrap(base))).toStrictEqual([]);
    expect(envoyApiProblems("bootstrap", renderEnvoyBootstrap(fullOptions))).toStrictEqual([]);
  });

  it("the serialised YAML and JSON Envoy reads are valid too", () => {
    const bootstrap = renderEnvoyBootstrap(fullOptions);
    expect(envoyApiProblems("bootstrap", parse(serializeEnvoyBootstrap(bootstrap, "yaml")))).toStrictEqual([]);
    expect(envoyApiTextProblems("bootstrap", serializeEnvoyBootstrap(bootstrap, "json"))).toStrictEqual([]);
  });

  it("the stats listener is checked too: a bad direct response status is rejected with its path", () => {
    const bootstrap = renderEnvoyBootstrap(base);
    const stats = bootstrap.static_resources.listeners[1];
    const hcm = stats.filter_chains[0].filters[0].typed_config;
    const broken = structuredClone(bootstrap);
    broken.static_resources.listeners[1].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1] = {
      match: { prefix: "/" },
      direct_response: { status: 99 as 404 },
    };
    expect(hcm.route_config.virtual_hosts[0].routes[1]).toStrictEqual({ match: { prefix: "/" }, direct_response: { status: 404 } });
    expect(describeProblems(envoyApiProblems("bootstrap", broken))).toStrictEqual([
      "static_resources.listeners[1].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].direct_response.status: value must be inside range [200, 600)",
    ]);
  });

  it("a broken render is rejected with its path", () => {
    const bootstrap = renderEnvoyBootstrap(base);
    const broken = { ...bootstrap, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0, portt: 1 } } } };
    expect(envoyApiProblems("bootstrap", broken)).toStrictEqual([{ path: "admin.address.socket_address.portt", message: 'unknown field "portt"' }]);
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
    const same = renderEnvoyBootstrap(base);
    const other = renderEnvoyBootstrap({ ...base, maxConnections: 75001 });
    expect(envoyBootstrapHash(same)).toBe(envoyBootstrapHash(bootstrap));
    expect(envoyBootstrapHash(other)).not.toBe(envoyBootstrapHash(bootstrap));
  });
});
