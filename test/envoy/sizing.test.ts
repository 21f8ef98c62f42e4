import { DEFAULT_BASE_FILE_DESCRIPTORS, DEFAULT_EPHEMERAL_PORTS, DEFAULT_SESSION_HEADROOM, sizeEnvoySessions } from "../../infra/envoy";
import { PlanError } from "../../infra/problems";

describe("sizeEnvoySessions", () => {
  it("documents its defaults", () => {
    expect(DEFAULT_SESSION_HEADROOM).toBe(1.5);
    expect(DEFAULT_BASE_FILE_DESCRIPTORS).toBe(1024);
    // Linux's default net.ipv4.ip_local_port_range, 32768-60999.
    expect(DEFAULT_EPHEMERAL_PORTS).toBe(60999 - 32768 + 1);
  });

  it.each([
    // devices, idle, report, nodes, headroom, base -> sessions, max_connections, fd limit
    { case: "every device active within idle_timeout (widened port range)", devices: 250_000, idle: 60, report: 60, nodes: 10, ports: 64_512, expected: [25_000, 37_500, 38_524] },
    { case: "reports more often than idle_timeout: share capped at 1", devices: 250_000, idle: 60, report: 30, nodes: 10, ports: 64_512, expected: [25_000, 37_500, 38_524] },
    { case: "reports every 5 minutes: 1/5 of devices hold a session", devices: 250_000, idle: 60, report: 300, nodes: 5, expected: [10_000, 15_000, 16_024] },
    { case: "uneven split rounds up", devices: 1001, idle: 60, report: 60, nodes: 3, expected: [334, 501, 1525] },
    { case: "fractional share rounds up", devices: 7, idle: 60, report: 900, nodes: 1, expected: [1, 2, 1026] },
    { case: "headroom 2, no base", devices: 100_000, idle: 60, report: 120, nodes: 4, headroom: 2, base: 0, expected: [12_500, 25_000, 25_000] },
    { case: "headroom 1.1 is not inflated by float noise", devices: 1000, idle: 60, report: 60, nodes: 1, headroom: 1.1, expected: [1000, 1100, 2124] },
    { case: "odd sessions x 1.5 rounds up", devices: 3, idle: 60, report: 60, nodes: 1, expected: [3, 5, 1029] },
    { case: "exactly the default ephemeral ports", devices: 18_822, idle: 60, report: 60, nodes: 1, expected: [18_822, 28_233, 29_257], ports: 28_233 },
  ])("$case", ({ devices, idle, report, nodes, headroom, base, ports, expected }) => {
    const sizing = sizeEnvoySessions({
      devices,
      idleTimeoutSeconds: idle,
      reportIntervalSeconds: report,
      ingressNodes: nodes,
      headroom,
      baseFileDescriptors: base,
      ephemeralPorts: ports,
    });
    expect(sizing).toStrictEqual({ sessionsPerNode: expected[0], maxConnections: expected[1], fileDescriptorLimit: expected[2] });
  });

  const valid = { devices: 1000, idleTimeoutSeconds: 60, reportIntervalSeconds: 60, ingressNodes: 2 };

  it.each([
    [{ devices: 0 }, "devices", "must be a positive integer, got 0"],
    [{ devices: -10 }, "devices", "must be a positive integer, got -10"],
    [{ devices: 10.5 }, "devices", "must be a positive integer, got 10.5"],
    [{ devices: Number.NaN }, "devices", "must be a positive integer, got NaN"],
    [{ idleTimeoutSeconds: 0 }, "idleTimeoutSeconds", "must be a positive integer, got 0"],
    [{ reportIntervalSeconds: Infinity }, "reportIntervalSeconds", "must be a positive integer, got Infinity"],
    [{ ingressNodes: 0 }, "ingressNodes", "must be a positive integer, got 0"],
    [{ headroom: 0.9 }, "headroom", "must be a finite number >= 1, got 0.9"],
    [{ headroom: Number.NaN }, "headroom", "must be a finite number >= 1, got NaN"],
    [{ baseFileDescriptors: -1 }, "baseFileDescriptors", "must be a non-negative integer, got -1"],
    [{ devices: 2 ** 40, ingressNodes: 1, headroom: 8 }, "ingressNodes", "max_connections 8796093022208 exceeds the UInt32 limit 4294967295"],
    [
      { devices: 250_000, idleTimeoutSeconds: 120, reportIntervalSeconds: 300, ingressNodes: 4 },
      "ingressNodes",
      "37500 sessions per node (with headroom) exceed the 28232 ephemeral ports a node has for Envoy's upstream sockets: add ingress nodes or shorten the idle timeout",
    ],
  ])("rejects %j at its key", (override, path, message) => {
    const size = () => sizeEnvoySessions({ ...valid, ...override });
    expect(size).toThrow(PlanError);
    expect(size).toThrow(`invalid Envoy session sizing:\n  - ${path}: ${message}`);
  });

  it("reports all input problems together, each at its key", () => {
    let thrown: unknown;
    try {
      sizeEnvoySessions({ devices: 0, idleTimeoutSeconds: 60, reportIntervalSeconds: 0, ingressNodes: -1 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PlanError);
    expect((thrown as PlanError).problems).toStrictEqual([
      { path: "devices", message: "must be a positive integer, got 0" },
      { path: "reportIntervalSeconds", message: "must be a positive integer, got 0" },
      { path: "ingressNodes", message: "must be a positive integer, got -1" },
    ]);
  });
});
