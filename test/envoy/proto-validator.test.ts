import { renderEnvoyBootstrap } from "../../infra/envoy";
import { EnvoyProtoValidationError, envoyMessageIssues, validateEnvoyMessage } from "./support/envoy-proto-validator";

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const PROXY = "static_resources.listeners[0].listener_filters[0].typed_config";
const RANGES = "matcher.matcher_tree.custom_match.typed_config.range_matchers[0]";
const ROUTE = `${RANGES}.on_match.action`;

// Test fixtures are mutated freely to build invalid configs; a precise type would only get in the way.
type Json = Record<string, any>;

function bootstrapWith(mutate: (b: Json, proxy: Json) => void): Json {
  const b = JSON.parse(JSON.stringify(renderEnvoyBootstrap({ listenerPort: 5683, maxConnections: 75000, sourceCidrs: ["10.128.0.0/14", "10.160.0.0/16"] }))) as Json;
  mutate(b, b.static_resources.listeners[0].listener_filters[0].typed_config);
  return b;
}

function issuesOf(json: unknown, type = BOOTSTRAP): string[] {
  return envoyMessageIssues(type, json).map((i) => `${i.path}: ${i.message}`);
}

describe("validateEnvoyMessage rejects what Envoy would reject", () => {
  it.each([
    [
      "a misspelled field",
      (_b: Json, p: Json) => {
        p.stat_prefx = p.stat_prefix;
      },
      `${PROXY}.stat_prefx: unknown field "stat_prefx" in envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig`,
    ],
    [
      "a wrong @type",
      (_b: Json, p: Json) => {
        p["@type"] = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxy";
      },
      `${PROXY}.@type: "@type" type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxy does not name a known message`,
    ],
    [
      "a missing stat_prefix",
      (_b: Json, p: Json) => {
        delete p.stat_prefix;
      },
      `${PROXY}.stat_prefix: field "stat_prefix" is not set, and its default fails: "" length must be at least 1 characters (got 0)`,
    ],
    [
      "two hash policies",
      (_b: Json, p: Json) => {
        p.hash_policies.push({ key: "x" });
      },
      `${PROXY}.hash_policies: must have at most 1 items (got 2)`,
    ],
    [
      "max_rx_datagram_size 70000",
      (_b: Json, p: Json) => {
        p.upstream_socket_config.max_rx_datagram_size = 70000;
      },
      `${PROXY}.upstream_socket_config.max_rx_datagram_size: value 70000 must be > 0 and < 65536`,
    ],
    [
      "source_ip: false (PGV const true)",
      (_b: Json, p: Json) => {
        p.hash_policies[0].source_ip = false;
      },
      `${PROXY}.hash_policies[0].source_ip: value false must be true`,
    ],
    [
      "a route with no route_specifier (oneof required)",
      (_b: Json, p: Json) => {
        delete p.matcher;
      },
      `${PROXY}: oneof "route_specifier" is required: set one of cluster, matcher`,
    ],
    [
      "the deprecated cluster field alongside matcher",
      (_b: Json, p: Json) => {
        p.cluster = "decoder";
      },
      `${PROXY}.cluster: field "cluster" is deprecated`,
    ],
    [
      "a deprecated admin field",
      (b: Json) => {
        b.admin.access_log_path = "/dev/null";
      },
      'admin.access_log_path: field "access_log_path" is deprecated',
    ],
    [
      "an Any payload with a wrong nested field",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].on_match.action.typed_config.clusterr = "decoder";
      },
      `${PROXY}.${ROUTE}.typed_config.clusterr: unknown field "clusterr" in envoy.extensions.filters.udp.udp_proxy.v3.Route`,
    ],
    [
      "a source IP range with prefix_len above 128 (PGV lte)",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges[0].prefix_len = 129;
      },
      `${PROXY}.${RANGES}.ranges[0].prefix_len: value 129 must be <= 128`,
    ],
    [
      "an IP range matcher without ranges (PGV min_items)",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges = [];
      },
      `${PROXY}.${RANGES}.ranges: must have at least 1 items (got 0)`,
    ],
    [
      "a misspelled IPMatcher field",
      (_b: Json, p: Json) => {
        const ip = p.matcher.matcher_tree.custom_match.typed_config;
        ip.range_matcher = ip.range_matchers;
        delete ip.range_matchers;
      },
      `${PROXY}.matcher.matcher_tree.custom_match.typed_config.range_matcher: unknown field "range_matcher" in xds.type.matcher.v3.IPMatcher`,
    ],
    [
      "a wrong @type on the source IP input",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.input.typed_config["@type"] = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIpInput";
      },
      `${PROXY}.matcher.matcher_tree.input.typed_config.@type: "@type" type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIpInput does not name a known message`,
    ],
    [
      "a misspelled prefer_gro on the listener socket",
      (b: Json) => {
        const socket = b.static_resources.listeners[0].udp_listener_config.downstream_socket_config;
        socket.prefer_groo = socket.prefer_gro;
        delete socket.prefer_gro;
      },
      'static_resources.listeners[0].udp_listener_config.downstream_socket_config.prefer_groo: unknown field "prefer_groo" in envoy.config.core.v3.UdpSocketConfig',
    ],
    [
      "a Duration without unit",
      (_b: Json, p: Json) => {
        p.idle_timeout = "60";
      },
      `${PROXY}.idle_timeout: expected a Duration string like "60s", got "60"`,
    ],
    [
      "an undefined enum name",
      (b: Json) => {
        b.static_resources.clusters[0].lb_policy = "MAGLEV_HASH";
      },
      'static_resources.clusters[0].lb_policy: "MAGLEV_HASH" is not a value of enum envoy.config.cluster.v3.Cluster.LbPolicy',
    ],
    [
      "an undefined enum number (defined_only)",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].priority = 7;
      },
      "static_resources.clusters[0].circuit_breakers.thresholds[0].priority: enum value 7 is not defined",
    ],
    [
      "a UInt32Value given as text",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections = "lots";
      },
      'static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections: expected uint32 (integer), got "lots"',
    ],
    [
      "a uint32 out of range",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections = 2 ** 32;
      },
      "static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections: 4294967296 is out of range for uint32",
    ],
    [
      "port_value above 65535 (PGV lte)",
      (b: Json) => {
        b.admin.address.socket_address.port_value = 70000;
      },
      "admin.address.socket_address.port_value: value 70000 must be <= 65535",
    ],
    [
      "an empty listener filter name",
      (b: Json) => {
        b.static_resources.listeners[0].listener_filters[0].name = "";
      },
      'static_resources.listeners[0].listener_filters[0].name: "" length must be at least 1 characters (got 0)',
    ],
    [
      "a zero connect_timeout (PGV duration gt 0)",
      (b: Json) => {
        b.static_resources.clusters[0].connect_timeout = "0s";
      },
      "static_resources.clusters[0].connect_timeout: value 0s must be > 0s",
    ],
    [
      "a missing watched directory path",
      (b: Json) => {
        b.static_resources.clusters[0].eds_cluster_config.eds_config.path_config_source.watched_directory = {};
      },
      'watched_directory.path: field "path" is not set, and its default fails',
    ],
    [
      "a list where an object belongs",
      (b: Json) => {
        b.admin = [];
      },
      "admin: expected an object for envoy.config.bootstrap.v3.Admin, got []",
    ],
    [
      "an object where a list belongs",
      (b: Json) => {
        b.static_resources.listeners = {};
      },
      'static_resources.listeners: expected a list for repeated field "listeners", got {}',
    ],
  ])("%s", (_case, mutate, expected) => {
    const json = bootstrapWith(mutate);
    expect(() => validateEnvoyMessage(BOOTSTRAP, json)).toThrow(EnvoyProtoValidationError);
    expect(issuesOf(json).some((issue) => issue.includes(expected))).toBe(true);
  });

  it("names every problem in the thrown message with its path", () => {
    const json = bootstrapWith((_b, p) => {
      p.stat_prefx = "iot";
      delete p.stat_prefix;
    });
    expect(() => validateEnvoyMessage(BOOTSTRAP, json)).toThrow(
      `envoy.config.bootstrap.v3.Bootstrap is invalid:\n` +
        `  ${PROXY}.stat_prefx: unknown field "stat_prefx" in envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig\n` +
        `  ${PROXY}.stat_prefix: field "stat_prefix" is not set, and its default fails: "" length must be at least 1 characters (got 0)`,
    );
  });

  it("an empty UdpProxyConfig misses stat_prefix and the route", () => {
    expect(issuesOf({}, "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig")).toStrictEqual([
      'stat_prefix: field "stat_prefix" is not set, and its default fails: "" length must be at least 1 characters (got 0)',
      ': oneof "route_specifier" is required: set one of cluster, matcher',
    ]);
  });

  it("throws for a type name that is not in the protos", () => {
    expect(() => validateEnvoyMessage("envoy.config.bootstrap.v3.Bootstrapp", {})).toThrow("is not a message type in the Envoy API protos");
  });
});

describe("validateEnvoyMessage accepts the proto3 JSON forms Envoy accepts", () => {
  it("JSON (lowerCamelCase) field names, null as unset, 64-bit integers as strings", () => {
    const json = bootstrapWith((_b, p) => {
      p.statPrefix = p.stat_prefix;
      delete p.stat_prefix;
      p.useOriginalSrcIp = p.use_original_src_ip;
      delete p.use_original_src_ip;
      p.upstream_socket_config.max_rx_datagram_size = "1500";
      p.access_log = null;
    });
    expect(issuesOf(json)).toStrictEqual([]);
  });

  it("loads the protos of an Any payload's package on demand (stdout access log)", () => {
    const json = bootstrapWith((_b, p) => {
      p.access_log = [
        {
          name: "envoy.access_loggers.stdout",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" },
        },
      ];
      p.access_log_options = { access_log_flush_interval: "0.5s" };
    });
    expect(issuesOf(json)).toStrictEqual([]);
    json.static_resources.listeners[0].listener_filters[0].typed_config.access_log_options.access_log_flush_interval = "0.0001s";
    expect(issuesOf(json)).toStrictEqual([
      `${PROXY}.access_log_options.access_log_flush_interval: value 0.0001s must be >= 0.001s`,
    ]);
  });

  it("rejects the same field given under both names", () => {
    const json = bootstrapWith((_b, p) => {
      p.statPrefix = p.stat_prefix;
    });
    expect(issuesOf(json)).toStrictEqual([`${PROXY}.statPrefix: field "stat_prefix" is set twice`]);
  });
});
