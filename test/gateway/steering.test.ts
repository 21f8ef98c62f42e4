import fc from "fast-check";
import { writeFileSync } from "fs";
import { join } from "path";
import { renderSteeringAgentScript, type SteeringTarget } from "../../infra/gateway";
import { withTempDir } from "./support/checkers";
import {
  NOW,
  decoderSlice,
  envoyPod,
  healthyNodes,
  node,
  nodeKey,
  nodePeer,
  runDecision,
  runMeshStatus,
  type ApiState,
} from "./support/fixtures";
import { gatewayPlan } from "./support/plan";
import { assignBuckets, bucketWeight, renderSteeringUpdate, steeringAddressOfPodCidr, steeringDecision } from "./support/steering-oracle";
import { run } from "./support/tools";

const t = (name: string, address: string): SteeringTarget => ({ name, address });

describe("decision program (jq) on API objects and the Kilo interface's peers", () => {
  it("targets every healthy ingress node by name, at its pod CIDR's first address", () => {
    expect(runDecision(healthyNodes(3)).targets).toEqual([t("ingress-1", "100.64.1.1"), t("ingress-2", "100.64.2.1"), t("ingress-3", "100.64.3.1")]);
  });

  it("skips a node whose Envoy pod is not Ready or is being deleted", () => {
    const state = healthyNodes(3);
    const pods = [envoyPod("ingress-1", false), envoyPod("ingress-2", true, true), envoyPod("ingress-3")];
    expect(runDecision({ ...state, envoyPods: pods }).targets).toEqual([t("ingress-3", "100.64.3.1")]);
  });

  it("skips a node without a ready decoder endpoint of its own", () => {
    const state = healthyNodes(3);
    const slices = [
      decoderSlice([{ nodeName: "ingress-1", ready: false }, { nodeName: "ingress-3" }]),
      // Endpoints of another Service never count.
      decoderSlice([{ nodeName: "ingress-2", ready: true }], "other"),
    ];
    expect(runDecision({ ...state, decoderSlices: slices }).targets).toEqual([t("ingress-3", "100.64.3.1")]);
  });

  it("counts a decoder endpoint from any slice of the Service", () => {
    const state = healthyNodes(2);
    const slices = [decoderSlice([{ nodeName: "ingress-1", ready: true }]), decoderSlice([{ nodeName: "ingress-2", ready: true }])];
    expect(runDecision({ ...state, decoderSlices: slices }).targets.map((x) => x.name)).toEqual(["ingress-1", "ingress-2"]);
  });

  it("skips a node without a pod CIDR, with a malformed one, or one without host addresses", () => {
    const state = healthyNodes(4);
    const nodes = [
      node({ name: "ingress-1" }),
      node({ name: "ingress-2", podCidr: "100.64.2.0/33" }),
      node({ name: "ingress-3", podCidr: "100.64.3.0/31" }),
      node({ name: "ingress-4", podCidr: "100.64.4.0/24" }),
    ];
    const peers = [...state.peers, nodePeer("ingress-3", "100.64.3.0/31", "10.4.0.3")];
    expect(runDecision({ ...state, nodes, peers }).targets).toEqual([t("ingress-4", "100.64.4.1")]);
  });

  it("reads the pod CIDR as Kilo does: host bits cleared", () => {
    const state = healthyNodes(1);
    const nodes = [node({ name: "ingress-1", podCidr: "100.64.1.77/24" })];
    expect(runDecision({ ...state, nodes }).targets).toEqual([t("ingress-1", "100.64.1.1")]);
  });

  it("skips a node outside the ingress pool, and a NotReady node", () => {
    const state = healthyNodes(3);
    const nodes = [
      node({ name: "ingress-1", podCidr: "100.64.1.0/24", ingress: false }),
      node({ name: "ingress-2", podCidr: "100.64.2.0/24", ready: false }),
      node({ name: "ingress-3", podCidr: "100.64.3.0/24" }),
    ];
    expect(runDecision({ ...state, nodes }).targets).toEqual([t("ingress-3", "100.64.3.1")]);
  });

  it("skips a node the Kilo interface does not route, and reports it", () => {
    const state = healthyNodes(3);
    const decision = runDecision({ ...state, peers: state.peers.filter((p) => p.key !== nodeKey("ingress-2")) });
    expect(decision.targets.map((x) => x.name)).toEqual(["ingress-1", "ingress-3"]);
    expect(decision.mesh).toEqual({ kiloNodes: ["ingress-1", "ingress-2", "ingress-3"], unrouted: ["ingress-2"], unroutedIngress: ["ingress-2"], withoutEndpoint: [] });
  });

  it("skips a node whose pod CIDR the interface routes to another key (a stale peer of a node that left)", () => {
    const state = healthyNodes(2);
    // Kubernetes gave ingress-2's pod CIDR to a new node while kgctl still has the old owner's peer.
    const peers = [state.peers[0], nodePeer("old-node", "100.64.2.0/24", "10.4.0.2")];
    expect(runDecision({ ...state, peers }).targets.map((x) => x.name)).toEqual(["ingress-1"]);
  });

  it("follows WireGuard's longest-prefix choice between peers", () => {
    const state = healthyNodes(2);
    const wide = { key: nodeKey("ingress-2"), allowedIps: ["100.64.0.0/15"] };
    const narrow = { key: nodeKey("other"), allowedIps: ["100.64.2.0/25"] };
    const decision = runDecision({ ...state, peers: [state.peers[0], wide, narrow] });
    expect(decision.targets.map((x) => x.name)).toEqual(["ingress-1"]);
    // Without the narrower peer, the wide prefix routes ingress-2's address to ingress-2.
    expect(runDecision({ ...state, peers: [state.peers[0], wide] }).targets.map((x) => x.name)).toEqual(["ingress-1", "ingress-2"]);
  });

  it("ignores the Kilo IPs: renumbering them (annotations and peers) changes nothing", () => {
    const state = healthyNodes(3);
    const renumbered: ApiState = {
      ...state,
      nodes: [3, 1, 2].map((k, i) => node({ name: `ingress-${i + 1}`, podCidr: `100.64.${i + 1}.0/24`, kiloIp: `10.4.0.${k + 1}/16` })),
      peers: [3, 1, 2].map((k, i) => nodePeer(`ingress-${i + 1}`, `100.64.${i + 1}.0/24`, `10.4.0.${k + 1}`)),
    };
    expect(runDecision(renumbered, 256)).toEqual(runDecision(state, 256));
  });

  it("parses peers without allowed IPs and ignores malformed lines", () => {
    const state = healthyNodes(1);
    const peers = [{ key: nodeKey("x"), allowedIps: [] }, ...state.peers, { key: "garbage", allowedIps: ["not-a-cidr"] }];
    expect(runDecision({ ...state, peers }).targets).toEqual([t("ingress-1", "100.64.1.1")]);
  });

  it("reports the nodes Kilo counts (endpoint, key, pod CIDR, seen within 60 s) and those without an endpoint", () => {
    const state = healthyNodes(1);
    const nodes = [
      ...state.nodes,
      node({ name: "general-1", podCidr: "100.64.9.0/24", ingress: false }),
      node({ name: "joining", podCidr: "100.64.8.0/24", ingress: false, endpoint: null }),
      node({ name: "gone", podCidr: "100.64.7.0/24", ingress: false, lastSeen: NOW - 60 }),
      node({ name: "keyless", podCidr: "100.64.6.0/24", ingress: false, key: null }),
    ];
    expect(runDecision({ ...state, nodes }).mesh).toEqual({
      kiloNodes: ["general-1", "ingress-1"],
      unrouted: ["general-1"],
      unroutedIngress: [],
      withoutEndpoint: ["joining"],
    });
  });

  it("sorts by name and is independent of the API's order", () => {
    const names = ["n-b", "n-a", "n-c", "n-10"];
    const state: ApiState = {
      nodes: names.map((name, i) => node({ name, podCidr: `100.64.${i}.0/24` })),
      envoyPods: names.map((name) => envoyPod(name)),
      decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName })))],
      peers: names.map((name, i) => nodePeer(name, `100.64.${i}.0/24`, `10.4.0.${i + 1}`)),
    };
    const reversed: ApiState = {
      nodes: [...state.nodes].reverse(),
      envoyPods: [...state.envoyPods].reverse(),
      decoderSlices: [decoderSlice([...names].reverse().map((nodeName) => ({ nodeName })))],
      peers: [...state.peers].reverse(),
    };
    const decision = runDecision(state);
    expect(decision.targets.map((x) => x.name)).toEqual(["n-10", "n-a", "n-b", "n-c"]);
    expect(runDecision(reversed)).toEqual(decision);
  });

  it("yields no targets and no buckets when nothing qualifies", () => {
    const decision = runDecision({ ...healthyNodes(2), envoyPods: [] });
    expect(decision.targets).toEqual([]);
    expect(decision.buckets).toEqual([]);
  });

  it("agrees with the TypeScript oracle bucket by bucket", () => {
    for (const count of [1, 2, 3, 5, 9]) {
      const decision = runDecision(healthyNodes(count), 256);
      expect({ targets: decision.targets, buckets: decision.buckets }).toEqual(steeringDecision(decision.targets, { buckets: 256, seed: 0 }));
    }
    // Long Kosmos-like names exercise the largest intermediate values of the hashes.
    const names = ["scw-iot-prod-ingress-9f3c2a7b5d1e4f60a8b2", "scw-iot-prod-ingress-0000", "zz", "a", "scw-k8s-" + "x".repeat(200)];
    const wide = runDecision(
      {
        nodes: names.map((name, i) => node({ name, podCidr: `100.65.${i * 10}.0/24` })),
        envoyPods: names.map((name) => envoyPod(name)),
        decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName })))],
        peers: names.map((name, i) => nodePeer(name, `100.65.${i * 10}.0/24`, `10.4.0.${i + 1}`)),
      },
      512,
    );
    expect(wide.targets.map((x) => x.name)).toEqual([...names].sort());
    expect(wide.buckets).toEqual(assignBuckets(wide.targets, 512));
  });
});

describe("mesh status (jq)", () => {
  const facts = { kiloNodes: ["a", "b", "c"], unrouted: ["b"], unroutedIngress: ["b"], withoutEndpoint: ["c"] };
  const synced = { kiloNodes: ["a", "b", "c"], unrouted: [], unroutedIngress: [], withoutEndpoint: [] };

  it("is synced when every node is routed, pending while a node is unrouted for less than the limit, then stale", () => {
    const first = runMeshStatus(synced, undefined, NOW);
    expect(first).toEqual({ state: "synced", checkedAt: NOW, syncedAt: NOW, unroutedSince: {}, unrouted: [], unroutedIngress: [], withoutEndpoint: [], message: null });
    const pending = runMeshStatus(facts, first, NOW + 30);
    expect(pending).toMatchObject({ state: "pending", syncedAt: NOW, unroutedSince: { b: NOW + 30 }, message: null });
    const stillPending = runMeshStatus(facts, pending, NOW + 119);
    expect(stillPending.state).toBe("pending");
    const stale = runMeshStatus(facts, stillPending, NOW + 120);
    expect(stale.state).toBe("stale");
    expect(stale.message).toBe(
      "stale mesh config: nodes b are not routed by kilo0 (for 90 s; every node was routed at 2027-01-15T08:00:00Z); ready ingress nodes left out of steering: b; nodes without a Kilo endpoint, which stop kgctl connect from syncing: c",
    );
    const recovered = runMeshStatus(synced, stale, NOW + 150);
    expect(recovered).toMatchObject({ state: "synced", syncedAt: NOW + 150, unroutedSince: {}, message: null });
  });

  it("times each node from when it became unrouted, and says when nothing was ever in sync", () => {
    const one = runMeshStatus({ ...facts, unrouted: ["b"] }, undefined, NOW);
    const two = runMeshStatus({ ...facts, unrouted: ["b", "d"], unroutedIngress: [], withoutEndpoint: [] }, one, NOW + 100);
    expect(two.unroutedSince).toEqual({ b: NOW, d: NOW + 100 });
    expect(two.message).toBe("stale mesh config: nodes b are not routed by kilo0 (for 100 s; not in sync since the agent started)");
  });
});

describe("bucket assignment (rendezvous hashing of node names)", () => {
  const targets = ["ingress-a", "ingress-b", "ingress-c", "ingress-d"].map((name, i) => t(name, `100.64.${i}.1`));

  it("is exact for a known input", () => {
    expect([bucketWeight("ingress-1", 0), bucketWeight("ingress-1", 255)]).toEqual([31742462, 101236]);
    expect(assignBuckets([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1")], 8)).toEqual(
      runDecision(healthyNodes(2), 8).buckets,
    );
    expect(assignBuckets([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1")], 8)).toEqual([
      "100.64.2.1", "100.64.1.1", "100.64.2.1", "100.64.1.1", "100.64.2.1", "100.64.2.1", "100.64.2.1", "100.64.1.1",
    ]);
  });

  it("spreads 256 buckets over 4 nodes within 50%-150% of the fair share", () => {
    const counts = new Map<string, number>();
    for (const ip of assignBuckets(targets, 256)) counts.set(ip, (counts.get(ip) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(targets.map((x) => x.address));
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(32);
      expect(count).toBeLessThanOrEqual(96);
    }
  });

  it("depends on names only: other addresses for the same names give the same node per bucket", () => {
    const moved = targets.map((x, i) => t(x.name, `100.65.${9 - i}.1`));
    const byName = (list: readonly SteeringTarget[]) => (address: string) => list.find((x) => x.address === address)?.name;
    expect(assignBuckets(moved, 256).map(byName(moved))).toEqual(assignBuckets(targets, 256).map(byName(targets)));
  });

  it("moves only the buckets of a node that leaves, and only buckets to a node that joins", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,40}$/), { minLength: 2, maxLength: 12 }), (names) => {
        const nodes = names.map((name, i) => t(name, `100.64.${i}.1`));
        const before = assignBuckets(nodes, 256);
        const leaving = nodes[0].address;
        const after = assignBuckets(nodes.slice(1), 256);
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

describe("steering addresses", () => {
  it("is the first host address of the pod CIDR", () => {
    expect(steeringAddressOfPodCidr("100.64.3.0/24")).toBe("100.64.3.1");
    expect(steeringAddressOfPodCidr("100.65.255.128/25")).toBe("100.65.255.129");
    expect(() => steeringAddressOfPodCidr("100.64.3.0/31")).toThrow(/host addresses/);
  });
});

describe("steering update transaction", () => {
  it("renders flush and refill of chain and map in one transaction", () => {
    expect(renderSteeringUpdate([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1"), t("ingress-2", "100.64.2.1")], { buckets: 8, seed: 7 })).toBe(
      [
        "flush chain ip iot_gateway_nat steer",
        "flush map ip iot_gateway_nat steer_buckets",
        "add element ip iot_gateway_nat steer_buckets { 0 : 100.64.2.1, 1 : 100.64.1.1, 2 : 100.64.2.1, 3 : 100.64.1.1, 4 : 100.64.2.1, 5 : 100.64.2.1, 6 : 100.64.2.1, 7 : 100.64.1.1 }",
        "add rule ip iot_gateway_nat steer dnat to jhash ip saddr mod 8 seed 7 map @steer_buckets",
        "",
      ].join("\n"),
    );
  });

  it("refuses an empty target set, non-addresses and a name with two addresses", () => {
    expect(() => renderSteeringUpdate([], { buckets: 8, seed: 0 })).toThrow(/without targets/);
    expect(() => renderSteeringUpdate([t("a", "100.64.1.0/24")], { buckets: 8, seed: 0 })).toThrow(/not an IPv4 address/);
    expect(() => renderSteeringUpdate([t("a", "100.64.1.1"), t("a", "100.64.2.1")], { buckets: 8, seed: 0 })).toThrow(/two steering addresses/);
  });

  it("is rendered identically by the agent's `render` mode", () => {
    // The seed is a constant of the plan (GATEWAY_HOST.hashSeed); the renderer must still carry whatever it is.
    const plan = gatewayPlan({ steering: { envoyNamespace: "a", decoderNamespace: "b", decoderServiceName: "c" } });
    const options = { ...plan, steering: { ...plan.steering, hashSeed: 42 } };
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
