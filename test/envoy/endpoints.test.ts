import { createHash } from "node:crypto";
import {
  buildClusterLoadAssignment,
  buildEdsDiscoveryResponse,
  renderEdsFile,
  serializeEdsDiscoveryResponse,
} from "../../infra/envoy";
import { ONE_ENDPOINT, selection, slice, udpPort, upstream } from "./support/slices";

// Envoy's own API judges the EDS files in endpoints.system-test.ts.

describe("buildClusterLoadAssignment", () => {
  it("keeps ready endpoints on this node only", () => {
    const slices = [
      slice("decoder-a", [
        { addresses: ["10.1.0.5"], nodeName: "ingress-1", conditions: { ready: true } },
        { addresses: ["10.2.0.7"], nodeName: "ingress-2", conditions: { ready: true } },
        { addresses: ["10.1.0.6"], nodeName: "ingress-1", conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ["10.1.0.8"], conditions: { ready: true } },
        { addresses: ["10.1.0.9"], nodeName: null, conditions: { ready: true } },
      ]),
    ];
    expect(buildClusterLoadAssignment(slices, selection)).toStrictEqual({
      cluster_name: "decoder",
      endpoints: [{ lb_endpoints: [upstream("10.1.0.5")] }],
    });
  });

  it("treats unset ready (no conditions, or ready null) as ready, per Kubernetes", () => {
    const slices = [
      slice("s", [
        { addresses: ["10.1.0.2"], nodeName: "ingress-1" },
        { addresses: ["10.1.0.3"], nodeName: "ingress-1", conditions: {} },
        { addresses: ["10.1.0.4"], nodeName: "ingress-1", conditions: { ready: null } },
      ]),
    ];
    expect(buildClusterLoadAssignment(slices, selection).endpoints).toStrictEqual([
      { lb_endpoints: [upstream("10.1.0.2"), upstream("10.1.0.3"), upstream("10.1.0.4")] },
    ]);
  });

  it("excludes a terminating endpoint even while it is still serving", () => {
    const slices = [slice("s", [{ addresses: ["10.1.0.2"], nodeName: "ingress-1", conditions: { ready: false, serving: true, terminating: true } }])];
    expect(buildClusterLoadAssignment(slices, selection)).toStrictEqual({ cluster_name: "decoder", endpoints: [] });
  });

  it("takes the UDP port by name from each slice", () => {
    const slices = [
      slice("old", [{ addresses: ["10.1.0.2"], nodeName: "ingress-1" }], [
        { name: "metrics", port: 9090, protocol: "TCP" },
        { name: "coap", port: 5683, protocol: "UDP" },
      ]),
      slice("new", [{ addresses: ["10.1.0.3"], nodeName: "ingress-1" }], [{ name: "coap", port: 5684, protocol: "UDP" }]),
    ];
    expect(buildClusterLoadAssignment(slices, selection).endpoints).toStrictEqual([
      { lb_endpoints: [upstream("10.1.0.2", 5683), upstream("10.1.0.3", 5684)] },
    ]);
  });

  it("skips slices without that port, with it only over TCP or protocol unset (TCP default), or with no port number", () => {
    const ready = [{ addresses: ["10.1.0.2"], nodeName: "ingress-1" }];
    const slices = [
      slice("other-name", ready, [{ name: "dtls", port: 5684, protocol: "UDP" }]),
      slice("tcp", ready, [{ name: "coap", port: 5683, protocol: "TCP" }]),
      slice("no-protocol", ready, [{ name: "coap", port: 5683 }]),
      slice("all-ports", ready, [{ name: "coap", port: null, protocol: "UDP" }]),
      slice("null-ports", ready, null),
    ];
    expect(buildClusterLoadAssignment(slices, selection).endpoints).toStrictEqual([]);
  });

  it("matches an unnamed port with portName \"\"", () => {
    const slices = [slice("s", [{ addresses: ["10.1.0.2"], nodeName: "ingress-1" }], [{ port: 7000, protocol: "UDP" }])];
    expect(buildClusterLoadAssignment(slices, { ...selection, portName: "" }).endpoints).toStrictEqual([
      { lb_endpoints: [upstream("10.1.0.2", 7000)] },
    ]);
  });

  it("ignores IPv6 and FQDN slices and malformed addresses", () => {
    const slices = [
      slice("v6", [{ addresses: ["fd00::5"], nodeName: "ingress-1" }], [udpPort], "IPv6"),
      slice("fqdn", [{ addresses: ["decoder.example"], nodeName: "ingress-1" }], [udpPort], "FQDN"),
      slice("bad", [{ addresses: ["10.1.0.256"], nodeName: "ingress-1" }, { addresses: [], nodeName: "ingress-1" }]),
    ];
    expect(buildClusterLoadAssignment(slices, selection).endpoints).toStrictEqual([]);
  });

  it("uses only the first of an endpoint's fungible addresses", () => {
    const slices = [slice("s", [{ addresses: ["10.1.0.9", "10.1.0.10"], nodeName: "ingress-1" }])];
    expect(buildClusterLoadAssignment(slices, selection).endpoints).toStrictEqual([{ lb_endpoints: [upstream("10.1.0.9")] }]);
  });

  it("deduplicates an endpoint listed in two slices and sorts numerically by address, then port", () => {
    const slices = [
      slice("b", [
        { addresses: ["10.1.0.10"], nodeName: "ingress-1" },
        { addresses: ["10.1.0.9"], nodeName: "ingress-1" },
      ]),
      slice("a", [
        { addresses: ["10.1.0.10"], nodeName: "ingress-1" },
        { addresses: ["9.255.255.255"], nodeName: "ingress-1" },
      ]),
      slice("c", [{ addresses: ["10.1.0.9"], nodeName: "ingress-1" }], [{ name: "coap", port: 80, protocol: "UDP" }]),
    ];
    const expected = {
      cluster_name: "decoder",
      endpoints: [{ lb_endpoints: [upstream("9.255.255.255"), upstream("10.1.0.9", 80), upstream("10.1.0.9"), upstream("10.1.0.10")] }],
    };
    expect(buildClusterLoadAssignment(slices, selection)).toStrictEqual(expected);
    expect(buildClusterLoadAssignment([...slices].reverse(), selection)).toStrictEqual(expected);
  });

  it("gives an empty assignment for no slices or no endpoints", () => {
    expect(buildClusterLoadAssignment([], selection)).toStrictEqual({ cluster_name: "decoder", endpoints: [] });
    expect(buildClusterLoadAssignment([slice("s", null)], selection)).toStrictEqual({ cluster_name: "decoder", endpoints: [] });
  });
});

describe("EDS file", () => {
  const slices = ONE_ENDPOINT;
  const resource = {
    "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    cluster_name: "decoder",
    endpoints: [{ lb_endpoints: [upstream("10.1.0.2")] }],
  };

  it("is a DiscoveryResponse with the packed ClusterLoadAssignment and a content-derived version", () => {
    const version = createHash("sha256").update(JSON.stringify(resource)).digest("hex").slice(0, 16);
    expect(buildEdsDiscoveryResponse(buildClusterLoadAssignment(slices, selection))).toStrictEqual({ version_info: version, resources: [resource] });
    expect(renderEdsFile(slices, selection)).toBe(`${JSON.stringify({ version_info: version, resources: [resource] }, null, 2)}\n`);
  });

  it("changes version_info when the endpoints change, and only then", () => {
    const other = [slice("s", [{ addresses: ["10.1.0.3"], nodeName: "ingress-1" }])];
    expect(renderEdsFile(slices, selection)).toBe(renderEdsFile([...slices], selection));
    expect(JSON.parse(renderEdsFile(other, selection)).version_info).not.toBe(JSON.parse(renderEdsFile(slices, selection)).version_info);
  });

  it("serialises as indented JSON with a trailing newline", () => {
    const response = buildEdsDiscoveryResponse(buildClusterLoadAssignment([], selection));
    expect(serializeEdsDiscoveryResponse(response)).toBe(`${JSON.stringify(response, null, 2)}\n`);
  });
});
