import {
  DEFAULT_NETWORK_BUFFERS,
  GatewayOptionsError,
  renderGatewayCloudInit,
  resolveGatewayOptions,
  type GatewayHostOptions,
} from "../../infra/gateway";
import { CONCENTRATOR_PUBLIC_KEY, SECOND_CONCENTRATOR_PUBLIC_KEY, gatewayOptions } from "./support/options";

function problemsOf(options: GatewayHostOptions): readonly string[] {
  try {
    resolveGatewayOptions(options);
  } catch (error) {
    if (error instanceof GatewayOptionsError) return error.problems;
    throw error;
  }
  throw new Error("options were accepted");
}

const base = gatewayOptions();

describe("resolveGatewayOptions", () => {
  it("fills in the documented defaults", () => {
    const resolved = resolveGatewayOptions(base);
    expect(resolved.kiloSubnet).toBe("10.4.0.0/16");
    expect(resolved.kilo).toEqual({ interfaceName: "kilo0", listenPort: 51820, mtu: 1420, resyncPeriodSeconds: 30 });
    expect(resolved.uplink.interfaceName).toBe("wg-uplink");
    expect(resolved.uplink.listenPort).toBe(51821);
    expect(resolved.uplink.concentrators).toEqual([
      {
        name: "operator-vpn",
        publicKey: CONCENTRATOR_PUBLIC_KEY,
        endpoint: { host: "198.51.100.7", port: 51821 },
        sourceCidrs: ["198.51.100.0/28"],
        deviceSubnets: ["10.128.0.0/14", "10.200.0.0/16"],
        persistentKeepalive: 25,
      },
    ]);
    expect(resolved.ingress).toEqual({ address: "10.5.1.1", port: 5683 });
    expect(resolved.downlinkSourceRewrite).toBe(false);
    expect(resolved.steering).toEqual({
      ingressNodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
      envoyNamespace: "iot-ingress",
      envoyPodSelector: "app.kubernetes.io/name=envoy-udp-ingress",
      decoderNamespace: "iot-decoder",
      decoderServiceName: "decoder",
      intervalSeconds: 5,
      buckets: 256,
      hashSeed: 0,
    });
    expect(resolved.tools).toEqual({
      arch: "amd64",
      kgctl: { version: "0.7.0", url: "https://github.com/squat/kilo/releases/download/0.7.0/kgctl-linux-amd64", sha256: "1".repeat(64) },
      kubectl: { version: "v1.34.2", url: "https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubectl", sha256: "2".repeat(64) },
    });
    expect(resolved.networkBuffers).toEqual(DEFAULT_NETWORK_BUFFERS);
  });

  it("derives tool URLs from version and architecture", () => {
    const resolved = resolveGatewayOptions(
      gatewayOptions({ tools: { arch: "arm64", kgctl: { version: "0.6.0", sha256: "a".repeat(64) }, kubectl: { version: "1.33.1", sha256: "b".repeat(64) } } }),
    );
    expect(resolved.tools.kgctl.url).toBe("https://github.com/squat/kilo/releases/download/0.6.0/kgctl-linux-arm64");
    expect(resolved.tools.kubectl.url).toBe("https://dl.k8s.io/release/v1.33.1/bin/linux/arm64/kubectl");
  });

  it("rejects empty device subnets and no concentrators", () => {
    expect(problemsOf({ ...base, deviceSubnets: [], uplink: { ...base.uplink, concentrators: [] } })).toEqual([
      "deviceSubnets: must list at least one device subnet",
      "uplink.concentrators: must list at least one concentrator",
    ]);
  });

  it("rejects bad ports, keys and sums, listing each by field", () => {
    const problems = problemsOf({
      ...base,
      kiloPrivateKey: "not-a-key",
      ingress: { port: 0 },
      uplink: { ...base.uplink, listenPort: 51820, privateKey: CONCENTRATOR_PUBLIC_KEY.slice(1) },
      tools: { kgctl: { sha256: "ABC" }, kubectl: { sha256: "2".repeat(64), url: "http://example.com/kubectl" } },
    });
    expect(problems).toEqual([
      "kiloPrivateKey: not a WireGuard key: expected the base64 encoding of 32 bytes (44 characters ending in '='), got 9 characters",
      "uplink.privateKey: not a WireGuard key: expected the base64 encoding of 32 bytes (44 characters ending in '='), got 43 characters",
      "ingress.port: must be an integer from 1 to 65535",
      "uplink.listenPort: must differ from kilo.listenPort",
      "tools.kgctl.sha256: must be 64 lowercase hex digits",
      "tools.kubectl.url: must be an https URL without query or spaces",
    ]);
  });

  it("rejects overlapping ranges and gateway addresses inside them", () => {
    const problems = problemsOf({
      ...base,
      deviceSubnets: ["10.128.0.0/14", "10.129.0.0/16", "100.64.0.0/24"],
      tunnelAddress: "10.4.0.99",
      ingress: { port: 5683, address: "10.128.0.1" },
    });
    expect(problems).toEqual([
      "deviceSubnets: 10.128.0.0/14 overlaps 10.129.0.0/16",
      "deviceSubnets: 100.64.0.0/24 overlaps the cluster range 100.64.0.0/15",
      "tunnelAddress: 10.4.0.99 lies inside 10.4.0.0/16",
      "ingress.address: 10.128.0.1 lies inside 10.128.0.0/14",
    ]);
  });

  it("requires each concentrator's subnets when there are several, and no subnet twice", () => {
    const second = { name: "backup-vpn", publicKey: SECOND_CONCENTRATOR_PUBLIC_KEY, sourceCidrs: ["192.0.2.0/30"] };
    expect(problemsOf({ ...base, uplink: { ...base.uplink, concentrators: [...base.uplink.concentrators, second] } })).toEqual([
      "uplink.concentrators[0].deviceSubnets: must be given when there is more than one concentrator",
      "uplink.concentrators[1].deviceSubnets: must be given when there is more than one concentrator",
      "deviceSubnets: 10.128.0.0/14 is not routed to any concentrator",
      "deviceSubnets: 10.200.0.0/16 is not routed to any concentrator",
    ]);
    const split = resolveGatewayOptions({
      ...base,
      uplink: {
        ...base.uplink,
        concentrators: [
          { ...base.uplink.concentrators[0], deviceSubnets: ["10.128.0.0/14"] },
          { ...second, deviceSubnets: ["10.200.0.0/16"] },
        ],
      },
    });
    expect(split.uplink.concentrators.map((c) => c.deviceSubnets)).toEqual([["10.128.0.0/14"], ["10.200.0.0/16"]]);
    expect(
      problemsOf({
        ...base,
        uplink: {
          ...base.uplink,
          concentrators: [
            { ...base.uplink.concentrators[0], deviceSubnets: ["10.128.0.0/14", "10.200.0.0/16"] },
            { ...second, deviceSubnets: ["10.200.0.0/16", "10.9.0.0/16"] },
          ],
        },
      }),
    ).toEqual([
      "uplink.concentrators[1].deviceSubnets: 10.200.0.0/16 is already routed to operator-vpn",
      "uplink.concentrators[1].deviceSubnets: 10.9.0.0/16 is not one of deviceSubnets",
    ]);
  });

  it("rejects names that would break the rendered files", () => {
    const problems = problemsOf({
      ...base,
      peerName: "Gateway 1",
      kubeconfig: " \n",
      uplink: { ...base.uplink, interfaceName: "an-interface-name-too-long" },
      steering: { envoyNamespace: "iot ingress", decoderNamespace: "x", decoderServiceName: "d'x", envoyPodSelector: "app in (a)" },
      devices: { expectedCount: 0, reportIntervalSeconds: 1.5 },
    });
    expect(problems).toEqual([
      "peerName: must be a Kubernetes object name (lowercase RFC 1123 subdomain)",
      "kubeconfig: must not be empty",
      "uplink.interfaceName: must be a Linux interface name (1-15 characters)",
      "devices.expectedCount: must be an integer from 1 to 100000000",
      "devices.reportIntervalSeconds: must be an integer from 1 to 86400",
      "steering.envoyPodSelector: must be an equality-based label selector",
      "steering.envoyNamespace: must be a namespace name",
      "steering.decoderServiceName: must be a Service name",
    ]);
  });

  it("makes renderGatewayCloudInit throw the same error", () => {
    expect(() => renderGatewayCloudInit({ ...base, deviceSubnets: [] })).toThrow(GatewayOptionsError);
  });
});
