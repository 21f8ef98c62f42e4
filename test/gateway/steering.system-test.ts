import { writeFileSync } from "fs";
import { join } from "path";
import { run } from "../../harness/commands";
import { withTempDir } from "../../harness/temp";
import { renderSteeringAgentScript, type SteeringTarget } from "../../infra/gateway";
import { NOW, decoderSlice, envoyPod, healthyNodes, node, nodeKey, nodePeer, type ApiState } from "./support/fixtures";
import { runDecision, runMeshStatus } from "./support/jq-programs";
import { gatewayPlan } from "./support/plan";
import { assignBuckets, renderSteeringUpdate, steeringDecision } from "./support/steering-oracle";

// The steering programs run for real: the decision and mesh-status programs by jq, the agent's `render` mode by bash.

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
  it("is what the decision program (jq) computes for the known input", () => {
    expect(assignBuckets([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1")], 8)).toEqual(
      runDecision(healthyNodes(2), 8).buckets,
    );
  });
});

describe("steering update transaction", () => {
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
