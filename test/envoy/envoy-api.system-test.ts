import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UDP_PROXY_CONFIG_TYPE, renderEnvoyBootstrap, resolveEnvoyPlan } from "../../infra/envoy";
import {
  ENVOY_API_BUILD_TIMEOUT_MS,
  describeProblems,
  envoyApiChecker,
  envoyApiFileProblems,
  envoyApiProblems,
  envoyApiTextProblems,
} from "./support/envoy-api";

const PROXY = "static_resources.listeners[0].listener_filters[0].typed_config";
const MATCHER = `${PROXY}.matcher.matcher_tree`;
const RANGES = `${MATCHER}.custom_match.typed_config.range_matchers[0]`;
const THRESHOLD = "static_resources.clusters[0].circuit_breakers.thresholds[0]";
const UNREGISTERED = "(not a type of Envoy's API, or an extension that tools/envoy-api/main.go does not import)";

// Test fixtures are mutated freely to build invalid configs; a precise type would only get in the way.
type Json = Record<string, any>;

function bootstrapWith(mutate: (b: Json, proxy: Json) => void): Json {
  const b = JSON.parse(JSON.stringify(renderEnvoyBootstrap(resolveEnvoyPlan({ deviceSubnets: ["10.128.0.0/14", "10.160.0.0/16"], sessions: { devices: 250_000, reportIntervalSeconds: 300, ingressNodes: 4 } })))) as Json;
  mutate(b, b.static_resources.listeners[0].listener_filters[0].typed_config);
  return b;
}

const problemsOf = (json: unknown): string[] => describeProblems(envoyApiProblems("bootstrap", json));

beforeAll(() => {
  envoyApiChecker();
}, ENVOY_API_BUILD_TIMEOUT_MS);

describe("the envoy-api checker rejects what Envoy would reject", () => {
  it.each([
    [
      "a misspelled field (unknown fields are errors)",
      (_b: Json, p: Json) => {
        p.stat_prefx = p.stat_prefix;
      },
      `${PROXY}.stat_prefx: unknown field "stat_prefx"`,
    ],
    [
      "an unknown top-level field",
      (b: Json) => {
        b.static_resource = {};
      },
      'static_resource: unknown field "static_resource"',
    ],
    [
      "a wrong @type (an Any whose type is not registered)",
      (_b: Json, p: Json) => {
        p["@type"] = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxy";
      },
      `${PROXY}.@type: unable to resolve "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxy": "not found" ${UNREGISTERED}`,
    ],
    [
      "an Envoy extension the checker does not register (reported, not skipped)",
      (_b: Json, p: Json) => {
        p.access_log = [
          {
            name: "envoy.access_loggers.stdout",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" },
          },
        ];
      },
      `${PROXY}.access_log[0].typed_config.@type: unable to resolve "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog": "not found" ${UNREGISTERED}`,
    ],
    [
      "a missing stat_prefix (PGV min_len inside the udp_proxy typed_config)",
      (_b: Json, p: Json) => {
        delete p.stat_prefix;
      },
      `${PROXY}.stat_prefix: value length must be at least 1 runes`,
    ],
    [
      "an empty stat_prefix",
      (_b: Json, p: Json) => {
        p.stat_prefix = "";
      },
      `${PROXY}.stat_prefix: value length must be at least 1 runes`,
    ],
    [
      "two hash policies",
      (_b: Json, p: Json) => {
        p.hash_policies.push({ key: "x" });
      },
      `${PROXY}.hash_policies: value must contain no more than 1 item(s)`,
    ],
    [
      "max_rx_datagram_size 70000",
      (_b: Json, p: Json) => {
        p.upstream_socket_config.max_rx_datagram_size = 70000;
      },
      `${PROXY}.upstream_socket_config.max_rx_datagram_size: value must be inside range (0, 65536)`,
    ],
    [
      "source_ip: false (PGV const true)",
      (_b: Json, p: Json) => {
        p.hash_policies[0].source_ip = false;
      },
      `${PROXY}.hash_policies[0].source_ip: value must equal true`,
    ],
    [
      "a route with no route_specifier (oneof required)",
      (_b: Json, p: Json) => {
        delete p.matcher;
      },
      `${PROXY}.route_specifier: value is required`,
    ],
    [
      "the deprecated cluster field instead of matcher",
      (_b: Json, p: Json) => {
        delete p.matcher;
        p.cluster = "decoder";
      },
      `${PROXY}.cluster: field is deprecated`,
    ],
    [
      "the deprecated cluster field alongside matcher (two members of a oneof)",
      (_b: Json, p: Json) => {
        p.cluster = "decoder";
      },
      `${PROXY}.cluster: error parsing "cluster", oneof envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig.route_specifier is already set`,
    ],
    [
      "a deprecated admin field",
      (b: Json) => {
        b.admin.access_log_path = "/dev/null";
      },
      "admin.access_log_path: field is deprecated",
    ],
    [
      "a deprecated enum value",
      (b: Json) => {
        b.static_resources.clusters[0].eds_cluster_config.eds_config.resource_api_version = "V2";
      },
      "static_resources.clusters[0].eds_cluster_config.eds_config.resource_api_version: enum value V2 is deprecated",
    ],
    [
      "an Any payload with a wrong nested field",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].on_match.action.typed_config.clusterr = "decoder";
      },
      `${RANGES}.on_match.action.typed_config.clusterr: unknown field "clusterr"`,
    ],
    [
      "a route action with an empty cluster (PGV inside an Any inside an Any)",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].on_match.action.typed_config.cluster = "";
      },
      `${RANGES}.on_match.action.typed_config.cluster: value length must be at least 1 runes`,
    ],
    [
      "a source IP range with prefix_len above 128 (PGV lte)",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges[0].prefix_len = 129;
      },
      `${RANGES}.ranges[0].prefix_len: value must be less than or equal to 128`,
    ],
    [
      "an IP range matcher without ranges (PGV min_items)",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges = [];
      },
      `${RANGES}.ranges: value must contain at least 1 item(s)`,
    ],
    [
      "a misspelled IPMatcher field",
      (_b: Json, p: Json) => {
        const ip = p.matcher.matcher_tree.custom_match.typed_config;
        ip.range_matcher = ip.range_matchers;
        delete ip.range_matchers;
      },
      `${MATCHER}.custom_match.typed_config.range_matcher: unknown field "range_matcher"`,
    ],
    [
      "a wrong @type on the source IP input",
      (_b: Json, p: Json) => {
        p.matcher.matcher_tree.input.typed_config["@type"] = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIpInput";
      },
      `${MATCHER}.input.typed_config.@type: unable to resolve "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIpInput": "not found" ${UNREGISTERED}`,
    ],
    [
      "a misspelled prefer_gro on the listener socket",
      (b: Json) => {
        const socket = b.static_resources.listeners[0].udp_listener_config.downstream_socket_config;
        socket.prefer_groo = socket.prefer_gro;
        delete socket.prefer_gro;
      },
      'static_resources.listeners[0].udp_listener_config.downstream_socket_config.prefer_groo: unknown field "prefer_groo"',
    ],
    [
      "a Duration without unit",
      (_b: Json, p: Json) => {
        p.idle_timeout = "60";
      },
      `${PROXY}.idle_timeout: invalid google.protobuf.Duration value "60"`,
    ],
    [
      "an undefined enum name",
      (b: Json) => {
        b.static_resources.clusters[0].lb_policy = "MAGLEV_HASH";
      },
      'static_resources.clusters[0].lb_policy: invalid value for enum field lbPolicy: "MAGLEV_HASH"',
    ],
    [
      "an undefined enum number (defined_only)",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].priority = 7;
      },
      `${THRESHOLD}.priority: value must be one of the defined enum values`,
    ],
    [
      "a UInt32Value given as text",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections = "lots";
      },
      `${THRESHOLD}.max_connections: invalid value for uint32 field value: "lots"`,
    ],
    [
      "a uint32 out of range",
      (b: Json) => {
        b.static_resources.clusters[0].circuit_breakers.thresholds[0].max_connections = 2 ** 32;
      },
      `${THRESHOLD}.max_connections: invalid value for uint32 field value: 4294967296`,
    ],
    [
      "port_value above 65535 (PGV lte)",
      (b: Json) => {
        b.admin.address.socket_address.port_value = 70000;
      },
      "admin.address.socket_address.port_value: value must be less than or equal to 65535",
    ],
    [
      "an empty listener filter name",
      (b: Json) => {
        b.static_resources.listeners[0].listener_filters[0].name = "";
      },
      "static_resources.listeners[0].listener_filters[0].name: value length must be at least 1 runes",
    ],
    [
      "a zero connect_timeout (PGV duration gt 0)",
      (b: Json) => {
        b.static_resources.clusters[0].connect_timeout = "0s";
      },
      "static_resources.clusters[0].connect_timeout: value must be greater than 0s",
    ],
    [
      "a missing watched directory path",
      (b: Json) => {
        b.static_resources.clusters[0].eds_cluster_config.eds_config.path_config_source.watched_directory = {};
      },
      "static_resources.clusters[0].eds_cluster_config.eds_config.path_config_source.watched_directory.path: value length must be at least 1 runes",
    ],
    [
      "a list where an object belongs",
      (b: Json) => {
        b.admin = [];
      },
      "admin: unexpected token [",
    ],
    [
      "an object where a list belongs",
      (b: Json) => {
        b.static_resources.listeners = {};
      },
      "static_resources.listeners: unexpected token {",
    ],
  ])("%s", (_case, mutate, expected) => {
    expect(problemsOf(bootstrapWith(mutate))).toStrictEqual([expected]);
  });

  it("names every problem with its path, inside nested Anys too", () => {
    const json = bootstrapWith((_b, p) => {
      delete p.stat_prefix;
      p.matcher.matcher_tree.custom_match.typed_config.range_matchers[0].ranges[1].prefix_len = 129;
    });
    expect(problemsOf(json)).toStrictEqual([
      `${PROXY}.stat_prefix: value length must be at least 1 runes`,
      `${RANGES}.ranges[1].prefix_len: value must be less than or equal to 128`,
    ]);
  });

  it("an empty UdpProxyConfig misses stat_prefix and the route", () => {
    const json = bootstrapWith((b) => {
      b.static_resources.listeners[0].listener_filters[0].typed_config = { "@type": UDP_PROXY_CONFIG_TYPE };
    });
    expect(problemsOf(json)).toStrictEqual([`${PROXY}.stat_prefix: value length must be at least 1 runes`, `${PROXY}.route_specifier: value is required`]);
  });

  it("reports the path in a multi-line document, and after non-ASCII text (positions are line:column in runes)", () => {
    const json = bootstrapWith((b, p) => {
      b.node.id = "capteur-é-😀";
      p.matcher.matcher_tree.input.typed_config.bogus = true;
    });
    const expected = [`${MATCHER}.input.typed_config.bogus: unknown field "bogus"`];
    expect(describeProblems(envoyApiTextProblems("bootstrap", JSON.stringify(json, null, 2)))).toStrictEqual(expected);
    expect(describeProblems(envoyApiTextProblems("bootstrap", JSON.stringify(json)))).toStrictEqual(expected);
  });

  it("reports text that is not JSON as a problem of the document", () => {
    expect(describeProblems(envoyApiTextProblems("bootstrap", '{"admin": {]}'))).toStrictEqual(["admin: unexpected token ]"]);
    expect(describeProblems(envoyApiTextProblems("bootstrap", '{"admin": {'))).toStrictEqual([": unexpected EOF"]);
  });

  it("fails loudly, rather than passing, when it cannot read its input", () => {
    const missing = path.join(os.tmpdir(), "envoy-api-no-such-file.json");
    expect(fs.existsSync(missing)).toBe(false);
    expect(() => envoyApiFileProblems("bootstrap", missing)).toThrow("no such file or directory");
  });
});

describe("the envoy-api checker accepts the proto3 JSON forms Envoy accepts", () => {
  it("the rendered bootstrap as a file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "envoy-api-"));
    try {
      const file = path.join(dir, "envoy.json");
      fs.writeFileSync(file, JSON.stringify(bootstrapWith(() => undefined)));
      expect(envoyApiFileProblems("bootstrap", file)).toStrictEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("JSON (lowerCamelCase) field names, null as unset, 64-bit integers as strings", () => {
    const json = bootstrapWith((_b, p) => {
      p.statPrefix = p.stat_prefix;
      delete p.stat_prefix;
      p.useOriginalSrcIp = p.use_original_src_ip;
      delete p.use_original_src_ip;
      p.upstream_socket_config.max_rx_datagram_size = "1500";
      p.access_log = null;
    });
    expect(problemsOf(json)).toStrictEqual([]);
  });

  it("checks PGV rules on udp_proxy's access_log_options", () => {
    const json = bootstrapWith((_b, p) => {
      p.access_log_options = { access_log_flush_interval: "0.5s" };
    });
    expect(problemsOf(json)).toStrictEqual([]);
    json.static_resources.listeners[0].listener_filters[0].typed_config.access_log_options.access_log_flush_interval = "0.0001s";
    expect(problemsOf(json)).toStrictEqual([`${PROXY}.access_log_options.access_log_flush_interval: value must be greater than or equal to 1ms`]);
  });

  it("rejects the same field given under both names", () => {
    const json = bootstrapWith((_b, p) => {
      p.statPrefix = p.stat_prefix;
    });
    expect(problemsOf(json)).toStrictEqual([`${PROXY}.statPrefix: duplicate field "statPrefix"`]);
  });
});
