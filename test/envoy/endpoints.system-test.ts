import { buildClusterLoadAssignment, buildEdsDiscoveryResponse, renderEdsFile } from "../../infra/envoy";
import { ENVOY_API_BUILD_TIMEOUT_MS, describeProblems, envoyApiChecker, envoyApiProblems, envoyApiTextProblems } from "./support/envoy-api";
import { ONE_ENDPOINT, selection, slice, upstream } from "./support/slices";

const slices = ONE_ENDPOINT;

describe("EDS file against Envoy's own API (tools/envoy-api, Envoy 1.40)", () => {
  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);

  it("is a valid envoy.service.discovery.v3.DiscoveryResponse of ClusterLoadAssignments, empty or not", () => {
    expect(envoyApiTextProblems("eds", renderEdsFile(slices, selection))).toStrictEqual([]);
    expect(envoyApiTextProblems("eds", renderEdsFile([], selection))).toStrictEqual([]);
    const several = [slice("s", [{ addresses: ["10.1.0.2"], nodeName: "ingress-1" }, { addresses: ["10.1.0.3"], nodeName: "ingress-1" }])];
    expect(envoyApiProblems("eds", buildEdsDiscoveryResponse(buildClusterLoadAssignment(several, selection)))).toStrictEqual([]);
  });

  it("rejects a broken assignment inside the response, with the path of each problem", () => {
    const response = buildEdsDiscoveryResponse({ cluster_name: "", endpoints: [{ lb_endpoints: [upstream("10.1.0.2", 70000)] }] });
    expect(describeProblems(envoyApiProblems("eds", response))).toStrictEqual([
      "resources[0].cluster_name: value length must be at least 1 runes",
      "resources[0].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: value must be less than or equal to 65535",
    ]);
  });

  it("rejects an unknown field inside the assignment", () => {
    const response: any = buildEdsDiscoveryResponse(buildClusterLoadAssignment(slices, selection));
    response.resources[0].endpoints[0].lb_endpoints[0].endpoint.adress = response.resources[0].endpoints[0].lb_endpoints[0].endpoint.address;
    expect(describeProblems(envoyApiProblems("eds", response))).toStrictEqual(['resources[0].endpoints[0].lb_endpoints[0].endpoint.adress: unknown field "adress"']);
  });

  it("rejects a resource that is not a ClusterLoadAssignment", () => {
    const response = { version_info: "1", resources: [{ "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "decoder" }] };
    expect(describeProblems(envoyApiProblems("eds", response))).toStrictEqual([
      "resources[0]: is a type.googleapis.com/envoy.config.cluster.v3.Cluster, want type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    ]);
    const labelled = { ...buildEdsDiscoveryResponse(buildClusterLoadAssignment(slices, selection)), type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" };
    expect(describeProblems(envoyApiProblems("eds", labelled))).toStrictEqual([
      "type_url: is type.googleapis.com/envoy.config.cluster.v3.Cluster, want type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    ]);
  });
});
