import fc from "fast-check";
import {
  assignBuckets,
  renderSteeringAgentScript,
  renderSteeringUpdate,
  resolveGatewayOptions,
  steeringDecision,
} from "../../infra/gateway";
import { withTempDir } from "./support/checkers";
import { decoderSlice, envoyPod, healthyNodes, node, runDecision, type ApiState } from "./support/fixtures";
import { gatewayOptions } from "./support/options";
import { run } from "./support/tools";
import { join } from "path";
import { writeFileSync } from "fs";

describe("decision program (jq) on API objects", () => {
  it("targets every healthy ingress node, by Kilo IP without prefix", () => {
    expect(runDecision(healthyNodes(3)).targets).toEqual(["10.4.0.1", "10.4.0.2", "10.4.0.3"]);
  });

  it("skips a node whose Envoy pod is not Ready or is being deleted", () => {
    const state = healthyNodes(3);
    const pods = [envoyPod("ingress-1", false), envoyPod("ingress-2", true, true), envoyPod("ingress-3")];
    expect(runDecision({ ...state, envoyPods: pods }).targets).toEqual(["10.4.0.3"]);
  });

  it("skips a node without a ready decoder endpoint of its own", () => {
    const state = healthyNodes(3);
    const slices = [
      decoderSlice([{ nodeName: "ingress-1", ready: false }, { nodeName: "ingress-3" }]),
      // Endpoints of another Service never count.
      decoderSlice([{ nodeName: "ingress-2", ready: true }], "other"),
    ];
    expect(runDecision({ ...state, decoderSlices: slices }).targets).toEqual(["10.4.0.3"]);
  });

  it("counts a decoder endpoint from any slice of the Service", () => {
    const state = healthyNodes(2);
    const slices = [decoderSlice([{ nodeName: "ingress-1", ready: true }]), decoderSlice([{ nodeName: "ingress-2", ready: true }])];
    expect(runDecision({ ...state, decoderSlices: slices }).targets).toEqual(["10.4.0.1", "10.4.0.2"]);
  });

  it("skips a node without a Kilo WireGuard IP annotation or with a malformed one", () => {
    const state = healthyNodes(3);
    const nodes = [node({ name: "ingress-1" }), node({ name: "ingress-2", kiloIp: "10.4.0.300/16" }), node({ name: "ingress-3", kiloIp: "10.4.0.3/16" })];
    expect(runDecision({ ...state, nodes }).targets).toEqual(["10.4.0.3"]);
  });

  it("skips a node outside the ingress pool even with Envoy and decoders on it", () => {
    const state = healthyNodes(2);
    const nodes = [node({ name: "ingress-1", kiloIp: "10.4.0.1/16", ingress: false }), node({ name: "ingress-2", kiloIp: "10.4.0.2/16" })];
    expect(runDecision({ ...state, nodes }).targets).toEqual(["10.4.0.2"]);
  });

  it("skips a NotReady node", () => {
    const state = healthyNodes(2);
    const nodes = [node({ name: "ingress-1", kiloIp: "10.4.0.1/16", ready: false }), node({ name: "ingress-2", kiloIp: "10.4.0.2/16" })];
    expect(runDecision({ ...state, nodes }).targets).toEqual(["10.4.0.2"]);
  });

  it("sorts numerically and is independent of the API's order", () => {
    const ips = ["10.4.0.10/16", "10.4.0.9/16", "10.4.1.2/16", "10.4.0.100/16"];
    const names = ips.map((_, i) => `n${i}`);
    const state: ApiState = {
      nodes: names.map((name, i) => node({ name, kiloIp: ips[i] })),
      envoyPods: names.map((name) => envoyPod(name)),
      decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName })))],
    };
    const reversed: ApiState = {
      nodes: [...state.nodes].reverse(),
      envoyPods: [...state.envoyPods].reverse(),
      decoderSlices: [decoderSlice([...names].reverse().map((nodeName) => ({ nodeName })))],
    };
    const decision = runDecision(state);
    expect(decision.targets).toEqual(["10.4.0.9", "10.4.0.10", "10.4.0.100", "10.4.1.2"]);
    expect(runDecision(reversed)).toEqual(decision);
  });

  it("yields no targets and no buckets when nothing qualifies", () => {
    expect(runDecision({ ...healthyNodes(2), envoyPods: [] })).toEqual({ targets: [], buckets: [] });
  });

  it("agrees with the TypeScript mirror bucket by bucket", () => {
    for (const count of [1, 2, 3, 5, 9]) {
      const decision = runDecision(healthyNodes(count), 256);
      expect(decision).toEqual(steeringDecision(decision.targets, { buckets: 256, seed: 0 }));
    }
    // Addresses near 2^32 exercise the largest intermediate values of the weight.
    const ips = ["255.255.255.254", "1.2.3.4", "10.4.255.254", "192.168.200.1", "128.0.0.1"];
    const names = ips.map((_, i) => `wide-${i}`);
    const wide = runDecision(
      {
        nodes: names.map((name, i) => node({ name, kiloIp: `${ips[i]}/16` })),
        envoyPods: names.map((name) => envoyPod(name)),
        decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName })))],
      },
      512,
    );
    expect(wide.targets).toEqual(["1.2.3.4", "10.4.255.254", "128.0.0.1", "192.168.200.1", "255.255.255.254"]);
    expect(wide).toEqual(steeringDecision(ips, { buckets: 512, seed: 0 }));
  });
});

describe("bucket assignment (rendezvous hashing)", () => {
  const targets = ["10.4.0.1", "10.4.0.2", "10.4.0.3", "10.4.0.4"];

  it("is exact for a known input", () => {
    expect(assignBuckets(["10.4.0.2", "10.4.0.1"], 8)).toEqual([
      "10.4.0.1", "10.4.0.1", "10.4.0.1", "10.4.0.2", "10.4.0.2", "10.4.0.1", "10.4.0.1", "10.4.0.1",
    ]);
  });

  it("spreads 256 buckets over 4 nodes within 50%-150% of the fair share", () => {
    const counts = new Map<string, number>();
    for (const ip of assignBuckets(targets, 256)) counts.set(ip, (counts.get(ip) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(targets);
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(32);
      expect(count).toBeLessThanOrEqual(96);
    }
  });

  it("moves only the buckets of a node that leaves, and only buckets to a node that joins", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 65534 }), { minLength: 2, maxLength: 12 }), (hosts) => {
        const ips = hosts.map((h) => `10.4.${Math.floor(h / 256)}.${h % 256}`);
        const before = assignBuckets(ips, 256);
        const leaving = ips[0];
        const after = assignBuckets(ips.slice(1), 256);
        before.forEach((ip, b) => {
          if (ip !== leaving) expect(after[b]).toBe(ip);
        });
        // Joining is the same change in reverse.
        after.forEach((ip, b) => {
          if (before[b] !== leaving) expect(before[b]).toBe(ip);
        });
      }),
      { numRuns: 50 },
    );
  });
});

describe("steering update transaction", () => {
  it("renders flush and refill of chain and map in one transaction", () => {
    expect(renderSteeringUpdate(["10.4.0.2", "10.4.0.1", "10.4.0.2"], { buckets: 8, seed: 7 })).toBe(
      [
        "flush chain ip iot_gateway_nat steer",
        "flush map ip iot_gateway_nat steer_buckets",
        "add element ip iot_gateway_nat steer_buckets { 0 : 10.4.0.1, 1 : 10.4.0.1, 2 : 10.4.0.1, 3 : 10.4.0.2, 4 : 10.4.0.2, 5 : 10.4.0.1, 6 : 10.4.0.1, 7 : 10.4.0.1 }",
        "add rule ip iot_gateway_nat steer dnat to jhash ip saddr mod 8 seed 7 map @steer_buckets",
        "",
      ].join("\n"),
    );
  });

  it("refuses an empty target set and non-addresses", () => {
    expect(() => renderSteeringUpdate([], { buckets: 8, seed: 0 })).toThrow(/without targets/);
    expect(() => renderSteeringUpdate(["10.4.0.1/16"], { buckets: 8, seed: 0 })).toThrow(/not an IPv4 address/);
  });

  it("is rendered identically by the agent's `render` mode", () => {
    const options = resolveGatewayOptions(gatewayOptions({ steering: { envoyNamespace: "a", decoderNamespace: "b", decoderServiceName: "c", hashSeed: 42 } }));
    const decision = runDecision(healthyNodes(3), options.steering.buckets);
    withTempDir("agent-", (dir) => {
      const script = join(dir, "agent");
      writeFileSync(script, renderSteeringAgentScript(options));
      const result = run("bash", [script, "render"], JSON.stringify(decision));
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(result.stdout).toBe(renderSteeringUpdate(decision.targets, { buckets: options.steering.buckets, seed: 42 }));
    });
  });
});
