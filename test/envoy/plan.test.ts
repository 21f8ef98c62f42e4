import { ENVOY_DEFAULTS, METRICS_SCRAPE_MODES, resolveEnvoyPlan, type EnvoyPlanInput, type MetricsScrapeMode } from "../../infra/envoy";
import { PlanError, type Problem } from "../../infra/problems";

import { DEVICES, baseInput as minimal, fullInput } from "./support/plans";

/** The problems resolveEnvoyPlan throws for `input`; fails the test when it resolves. */
function problemsOf(input: EnvoyPlanInput, keyName?: (key: string) => string): readonly Problem[] {
  try {
    resolveEnvoyPlan(input, keyName);
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    expect((error as PlanError).subject).toBe("Envoy ingress");
    return (error as PlanError).problems;
  }
  throw new Error("expected resolveEnvoyPlan to throw");
}

describe("ENVOY_DEFAULTS", () => {
  it("holds every Envoy default, once", () => {
    expect(ENVOY_DEFAULTS).toStrictEqual({
      listenerPort: 5683,
      idleTimeoutSeconds: 60,
      maxDatagramBytes: 1500,
      concurrency: 2,
      adminPort: 9901,
      metricsPort: 9902,
      metrics: { scrape: "annotations" },
      resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } },
    });
    expect(METRICS_SCRAPE_MODES).toStrictEqual(["annotations", "podMonitor"]);
  });
});

describe("resolveEnvoyPlan", () => {
  it("applies every default and sizes the sessions", () => {
    // 250,000 devices x min(1, 60 s / 300 s) / 4 nodes = 12,500 sessions per node; x 1.5 headroom; + 1,024 descriptors.
    expect(resolveEnvoyPlan(minimal)).toStrictEqual({
      listenerPort: 5683,
      deviceSubnets: DEVICES,
      sizing: { sessionsPerNode: 12_500, maxConnections: 18_750, fileDescriptorLimit: 19_774 },
      idleTimeoutSeconds: 60,
      maxDatagramBytes: 1500,
      concurrency: 2,
      adminPort: 9901,
      metricsPort: 9902,
      metrics: { scrape: "annotations" },
    });
  });

  it("keeps every value it is given, and treats undefined as not given", () => {
    const input = fullInput;
    expect(resolveEnvoyPlan(input)).toStrictEqual({
      listenerPort: 30001,
      deviceSubnets: ["192.0.2.0/24"],
      sizing: { sessionsPerNode: 1000, maxConnections: 1500, fileDescriptorLimit: 2524 },
      idleTimeoutSeconds: 120,
      maxDatagramBytes: 512,
      concurrency: 4,
      adminPort: 19000,
      metricsPort: 19100,
      metrics: { scrape: "podMonitor" },
    });
    const unset = { ...minimal, listenerPort: undefined, adminPort: undefined, metricsPort: undefined, metrics: { scrape: undefined } };
    expect(resolveEnvoyPlan(unset)).toStrictEqual(resolveEnvoyPlan(minimal));
  });

  it("does not share the caller's subnet list", () => {
    const subnets = [...DEVICES];
    const plan = resolveEnvoyPlan({ ...minimal, deviceSubnets: subnets });
    subnets.push("192.0.2.0/24");
    expect(plan.deviceSubnets).toStrictEqual(DEVICES);
  });

  it.each<[string, Partial<EnvoyPlanInput>, Problem]>([
    ["a device port of 0", { listenerPort: 0 }, { path: "listenerPort", message: "must be an integer from 1 to 65535" }],
    ["a fractional device port", { listenerPort: 53.5 }, { path: "listenerPort", message: "must be an integer from 1 to 65535" }],
    ["no device subnet", { deviceSubnets: [] }, { path: "deviceSubnets", message: "must list at least one device subnet" }],
    ["a subnet with host bits", { deviceSubnets: ["10.128.0.1/14"] }, { path: "deviceSubnets[0]", message: '"10.128.0.1/14" has host bits set; the network is 10.128.0.0/14' }],
    ["a subnet that is not a CIDR", { deviceSubnets: ["0.0.0.0/0", "devices"] }, { path: "deviceSubnets[1]", message: '"devices" is not an IPv4 CIDR like 10.128.0.0/14' }],
    ["a subnet listed twice", { deviceSubnets: ["10.160.0.0/16", "10.160.0.0/16"] }, { path: "deviceSubnets[1]", message: "10.160.0.0/16 overlaps the device subnet 10.160.0.0/16" }],
    ["no fleet", { sessions: { devices: 0, reportIntervalSeconds: 300, ingressNodes: 4 } }, { path: "sessions.devices", message: "must be a positive integer, got 0" }],
    ["a fractional report interval", { sessions: { devices: 10, reportIntervalSeconds: 0.5, ingressNodes: 4 } }, { path: "sessions.reportIntervalSeconds", message: "must be a positive integer, got 0.5" }],
    ["no ingress node", { sessions: { devices: 10, reportIntervalSeconds: 300, ingressNodes: 0 } }, { path: "sessions.ingressNodes", message: "must be a positive integer, got 0" }],
    [
      "more sessions than a node's ephemeral ports",
      { idleTimeoutSeconds: 120, sessions: { devices: 250_000, reportIntervalSeconds: 300, ingressNodes: 4 } },
      {
        path: "sessions.ingressNodes",
        message: "37500 sessions per node (with headroom) exceed the 28232 ephemeral ports a node has for Envoy's upstream sockets: add ingress nodes or shorten the idle timeout",
      },
    ],
    ["an idle timeout of 0", { idleTimeoutSeconds: 0 }, { path: "idleTimeoutSeconds", message: "must be a positive integer, got 0" }],
    [
      "an idle timeout longer than a protobuf Duration",
      { idleTimeoutSeconds: 315_576_000_001, sessions: { devices: 1000, reportIntervalSeconds: 60, ingressNodes: 1 } },
      { path: "idleTimeoutSeconds", message: "must be at most 315576000000 (the longest protobuf Duration)" },
    ],
    ["a datagram above 65535 bytes", { maxDatagramBytes: 65536 }, { path: "maxDatagramBytes", message: "must be an integer from 1 to 65535" }],
    ["no worker", { concurrency: 0 }, { path: "concurrency", message: "must be an integer from 1 to 4294967295" }],
    ["an admin port of -1", { adminPort: -1 }, { path: "adminPort", message: "must be an integer from 1 to 65535" }],
    ["a metrics port above 65535", { metricsPort: 70000 }, { path: "metricsPort", message: "must be an integer from 1 to 65535" }],
    ["the metrics port on the device port", { metricsPort: 5683 }, { path: "metricsPort", message: "must differ from listenerPort (5683), the device port" }],
    ["the metrics port on the admin port", { adminPort: 9950, metricsPort: 9950 }, { path: "metricsPort", message: "must differ from adminPort (9950): the admin stays on loopback" }],
    ["an unknown scrape mode", { metrics: { scrape: "serviceMonitor" as MetricsScrapeMode } }, { path: "metrics.scrape", message: 'must be one of annotations, podMonitor, got "serviceMonitor"' }],
  ])("rejects %s at its key", (_name, override, problem) => {
    expect(problemsOf({ ...minimal, ...override })).toStrictEqual([problem]);
  });

  it("reports every problem at once, each at its key path, in the input's order", () => {
    const problems = problemsOf({
      listenerPort: 9902,
      deviceSubnets: ["10.128.0.1/14", "10.160.0.0/16", "10.160.0.0/16"],
      sessions: { devices: 0, reportIntervalSeconds: 300, ingressNodes: -1 },
      idleTimeoutSeconds: 0,
      maxDatagramBytes: 0,
      concurrency: 1.5,
      adminPort: 9902,
      metrics: { scrape: "scrape" as MetricsScrapeMode },
    });
    expect(problems).toStrictEqual([
      { path: "deviceSubnets[0]", message: '"10.128.0.1/14" has host bits set; the network is 10.128.0.0/14' },
      { path: "deviceSubnets[2]", message: "10.160.0.0/16 overlaps the device subnet 10.160.0.0/16" },
      { path: "sessions.devices", message: "must be a positive integer, got 0" },
      { path: "idleTimeoutSeconds", message: "must be a positive integer, got 0" },
      { path: "sessions.ingressNodes", message: "must be a positive integer, got -1" },
      { path: "maxDatagramBytes", message: "must be an integer from 1 to 65535" },
      { path: "concurrency", message: "must be an integer from 1 to 4294967295" },
      { path: "metricsPort", message: "must differ from listenerPort (9902), the device port" },
      { path: "metricsPort", message: "must differ from adminPort (9902): the admin stays on loopback" },
      { path: "metrics.scrape", message: 'must be one of annotations, podMonitor, got "scrape"' },
    ]);
  });

  it("names the other key of a rule between two keys as the caller calls it", () => {
    const configKey = (key: string) => ({ listenerPort: "ingress.port", adminPort: "ingress.adminPort" })[key] ?? key;
    expect(problemsOf({ ...minimal, listenerPort: 9950, adminPort: 9950, metricsPort: 9950 }, configKey)).toStrictEqual([
      { path: "metricsPort", message: "must differ from ingress.port (9950), the device port" },
      { path: "metricsPort", message: "must differ from ingress.adminPort (9950): the admin stays on loopback" },
    ]);
  });

  it("says so when the session figures are missing instead of failing on them", () => {
    const input = { deviceSubnets: DEVICES } as unknown as EnvoyPlanInput;
    expect(problemsOf(input)).toStrictEqual([{ path: "sessions", message: "is required: devices, reportIntervalSeconds and ingressNodes" }]);
  });
});
