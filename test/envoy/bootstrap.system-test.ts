import { parse } from "yaml";
import { renderEnvoyBootstrap, serializeEnvoyBootstrap } from "../../infra/envoy";
import { ENVOY_API_BUILD_TIMEOUT_MS, describeProblems, envoyApiChecker, envoyApiProblems, envoyApiTextProblems } from "./support/envoy-api";
import { base, full } from "./support/plans";

describe("bootstrap against Envoy's own API (tools/envoy-api, Envoy 1.40)", () => {
  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);

  it("the default and a fully customised plan's bootstraps are valid envoy.config.bootstrap.v3.Bootstrap", () => {
    expect(envoyApiProblems("bootstrap", renderEnvoyBootstrap(base))).toStrictEqual([]);
    expect(envoyApiProblems("bootstrap", renderEnvoyBootstrap(full))).toStrictEqual([]);
  });

  it("the serialised YAML and JSON Envoy reads are valid too", () => {
    const bootstrap = renderEnvoyBootstrap(full);
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
