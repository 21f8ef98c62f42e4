import {
  GATEWAY_DEFAULTS,
  GATEWAY_HOST,
  renderGatewayCloudInit,
  resolveGatewayPlan,
  type GatewayPlanInput,
} from "../../infra/gateway";
import { PlanError } from "../../infra/problems";
import { CONCENTRATOR_PUBLIC_KEY, GATEWAY_SECRETS, SECOND_CONCENTRATOR_PUBLIC_KEY, gatewayPlan, gatewayPlanInput } from "./support/plan";

/** Every problem of `input` as `path: message`; fails the test if the input resolves. */
function problemsOf(input: GatewayPlanInput): readonly string[] {
  try {
    resolveGatewayPlan(input);
  } catch (error) {
    if (error instanceof PlanError) return error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    throw error;
  }
  throw new Error("the input was accepted");
}

const base = gatewayPlanInput();

describe("resolveGatewayPlan", () => {
  it("fills in the documented defaults and the host's fixed settings", () => {
    const plan = resolveGatewayPlan(base);
    expect(plan.kilo).toEqual({ interfaceName: "kilo0", listenPort: 51820, mtu: 1420, resyncPeriodSeconds: 30, persistentKeepaliveSeconds: 25 });
    expect(plan.uplink.interfaceName).toBe("wg-uplink");
    expect(plan.uplink.listenPort).toBe(51821);
    expect(plan.uplink.mtu).toBe(1420);
    expect(plan.uplink.concentrators).toEqual([
      {
        name: "operator-vpn",
        publicKey: CONCENTRATOR_PUBLIC_KEY,
        endpoint: { host: "198.51.100.7", port: 51821 },
        sourceCidrs: ["198.51.100.0/28"],
        deviceSubnets: ["10.128.0.0/14", "10.200.0.0/16"],
        persistentKeepalive: 25,
      },
    ]);
    expect(plan.ingress).toEqual({ address: "10.5.1.1", port: 5683 });
    expect(plan.downlinkSourceRewrite).toBe(false);
    expect(plan.downlinkPorts).toEqual([]);
    expect(plan.steering).toEqual({
      ingressNodeLabel: { key: "iot-udp-ingress/role", value: "ingress" },
      envoyNamespace: "iot-ingress",
      envoyPodSelector: "app.kubernetes.io/name=envoy-udp-ingress",
      decoderNamespace: "iot-decoder",
      decoderServiceName: "decoder",
      intervalSeconds: 5,
      buckets: 256,
      hashSeed: 0,
    });
    expect(plan.tools).toEqual({
      kgctl: { version: "0.7.0", url: "https://github.com/squat/kilo/releases/download/0.7.0/kgctl-linux-amd64", sha256: "1".repeat(64) },
      kubectl: { version: "v1.34.2", url: "https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubectl", sha256: "2".repeat(64) },
    });
    expect(plan.networkBuffers).toEqual(GATEWAY_HOST.networkBuffers);
    expect(plan.metrics).toEqual({ nodeExporterPort: 9100 });
  });

  it("takes the defaults from GATEWAY_DEFAULTS, the one place they are written", () => {
    const plan = resolveGatewayPlan(base);
    expect([plan.kilo.listenPort, plan.uplink.listenPort, plan.kilo.persistentKeepaliveSeconds]).toEqual([
      GATEWAY_DEFAULTS.kiloListenPort,
      GATEWAY_DEFAULTS.uplinkListenPort,
      GATEWAY_DEFAULTS.persistentKeepaliveSeconds,
    ]);
    expect([plan.steering.intervalSeconds, plan.steering.buckets]).toEqual([GATEWAY_DEFAULTS.steeringIntervalSeconds, GATEWAY_DEFAULTS.steeringBuckets]);
  });

  it("keeps what the user chose over the defaults, with downlink ports sorted and unique", () => {
    const plan = gatewayPlan({
      kiloListenPort: 41820,
      persistentKeepaliveSeconds: 15,
      ingress: { address: "10.5.2.1", port: 6000 },
      downlinkPorts: [5684, 5683, 5684],
      steering: { ...base.steering, intervalSeconds: 10, buckets: 4096 },
    });
    expect(plan.kilo.listenPort).toBe(41820);
    expect(plan.kilo.persistentKeepaliveSeconds).toBe(15);
    expect(plan.ingress).toEqual({ address: "10.5.2.1", port: 6000 });
    expect(plan.downlinkPorts).toEqual([5683, 5684]);
    expect([plan.steering.intervalSeconds, plan.steering.buckets]).toEqual([10, 4096]);
  });

  it("rejects empty device subnets and no concentrators", () => {
    expect(problemsOf({ ...base, deviceSubnets: [], uplink: { ...base.uplink, concentrators: [] } })).toEqual([
      "deviceSubnets: must list at least one device subnet",
      "uplink.concentrators: must list at least one concentrator",
    ]);
  });

  it("rejects bad ports, keys, sums and steering figures, listing each by field", () => {
    const problems = problemsOf({
      ...base,
      ingress: { port: 0 },
      uplink: { ...base.uplink, listenPort: 51820, concentrators: [{ ...base.uplink.concentrators[0], publicKey: CONCENTRATOR_PUBLIC_KEY.slice(1) }] },
      steering: { ...base.steering, intervalSeconds: 0, buckets: 4097 },
      tools: { kgctl: { version: "latest", sha256: "ABC" }, kubectl: { version: "v1.34.2", sha256: "2".repeat(64) } },
    });
    expect(problems).toEqual([
      "ingress.port: must be an integer from 1 to 65535",
      "uplink.listenPort: must differ from the Kilo listen port (51820)",
      "uplink.concentrators[0].publicKey: not a WireGuard key: expected the base64 encoding of 32 bytes (44 characters ending in '='), got 43 characters",
      "steering.intervalSeconds: must be an integer from 1 to 3600",
      "steering.buckets: must be an integer from 1 to 4096",
      "tools.kgctl.version: must be an exact version like 1.2.3",
      "tools.kgctl.sha256: must be 64 lowercase hex digits",
    ]);
  });

  it("rejects device subnets that overlap each other or a cluster range, and gateway addresses inside either", () => {
    const problems = problemsOf({
      ...base,
      deviceSubnets: ["10.128.0.0/14", "10.129.0.0/16", "100.64.0.0/24", "10.32.0.0/24"],
      cluster: { podCidr: "100.64.0.0/15", serviceCidr: "10.32.0.0/20" },
      tunnelAddress: "10.4.0.99",
      ingress: { port: 5683, address: "10.128.0.1" },
    });
    expect(problems).toEqual([
      "deviceSubnets[1]: 10.129.0.0/16 overlaps the device subnet 10.128.0.0/14",
      "deviceSubnets[2]: 100.64.0.0/24 overlaps the pod CIDR (100.64.0.0/15)",
      "deviceSubnets[3]: 10.32.0.0/24 overlaps the service CIDR (10.32.0.0/20)",
      "tunnelAddress: 10.4.0.99 is inside Kilo's subnet (10.4.0.0/16)",
      "ingress.address: 10.128.0.1 is inside the device subnet 10.128.0.0/14",
    ]);
  });

  it("keeps the tunnel address apart from the uplink and ingress addresses", () => {
    expect(problemsOf({ ...base, uplink: { ...base.uplink, address: "10.5.0.1" }, ingress: { port: 5683, address: "10.5.0.1" } })).toEqual([
      "uplink.address: must differ from the tunnel address (10.5.0.1): the two WireGuard interfaces need their own addresses",
      "ingress.address: must differ from the tunnel address (10.5.0.1): devices send to the uplink side, not into the Kilo mesh",
    ]);
  });

  it("requires each concentrator's subnets when there are several, and no subnet twice", () => {
    const second = { name: "backup-vpn", publicKey: SECOND_CONCENTRATOR_PUBLIC_KEY, sourceCidrs: ["192.0.2.0/30"] };
    expect(problemsOf({ ...base, uplink: { ...base.uplink, concentrators: [...base.uplink.concentrators, second] } })).toEqual([
      "uplink.concentrators[0].deviceSubnets: must be given when there is more than one concentrator",
      "uplink.concentrators[1].deviceSubnets: must be given when there is more than one concentrator",
      "deviceSubnets[0]: 10.128.0.0/14 is not routed to any concentrator",
      "deviceSubnets[1]: 10.200.0.0/16 is not routed to any concentrator",
    ]);
    const split = resolveGatewayPlan({
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
            { ...second, name: "operator-vpn", deviceSubnets: ["10.200.0.0/16", "10.9.0.0/16"] },
          ],
        },
      }),
    ).toEqual([
      'uplink.concentrators[1].name: "operator-vpn" is used by another concentrator',
      "uplink.concentrators[1].deviceSubnets[0]: 10.200.0.0/16 is already routed to operator-vpn",
      "uplink.concentrators[1].deviceSubnets[1]: 10.9.0.0/16 is not one of the device subnets",
    ]);
  });

  it("rejects names that would break the rendered files", () => {
    const problems = problemsOf({
      ...base,
      peerName: "Gateway 1",
      steering: { envoyNamespace: "iot ingress", decoderNamespace: "x", decoderServiceName: "d'x", envoyPodSelector: "app in (a)" },
      devices: { expectedCount: 0, reportIntervalSeconds: 1.5 },
    });
    expect(problems).toEqual([
      "peerName: must be a Kubernetes object name (lowercase RFC 1123 subdomain)",
      "devices.expectedCount: must be an integer from 1 to 100000000",
      "devices.reportIntervalSeconds: must be an integer from 1 to 86400",
      "steering.envoyPodSelector: must be an equality-based label selector",
      "steering.envoyNamespace: must be a namespace name",
      "steering.decoderServiceName: must be a Service name",
    ]);
  });
});

describe("renderGatewayCloudInit", () => {
  it("refuses secrets kgctl or wg-quick could not read, naming each", () => {
    let thrown: unknown;
    try {
      renderGatewayCloudInit(gatewayPlan(), { kiloPrivateKey: "not-a-key", uplinkPrivateKey: GATEWAY_SECRETS.uplinkPrivateKey, kubeconfig: " \n" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PlanError);
    expect((thrown as PlanError).problems.map((problem) => problem.path)).toEqual(["kiloPrivateKey", "kubeconfig"]);
  });
});
