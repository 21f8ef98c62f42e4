import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  DEFAULT_GATEWAY_PATHS,
  STEERING_EXIT_API_ERROR,
  STEERING_TARGETS_JQ,
  renderGatewayRuleset,
  renderSteeringAgentScript,
  type GatewayPaths,
  type SteeringTarget,
} from "../../infra/gateway";
import { requireTool } from "../../harness/commands";
import { addNetns, deleteNetns, nsExec, uniqueNetnsName } from "../../harness/netns";
import { startWireguardGo, stopWireguardGo } from "../../harness/processes";
import { generateKeyPair } from "../../infra/wireguard";
import { ENVOY_POD_SELECTOR } from "../../components/envoy-udp-ingress";
import { gatewayPlan, withInterfaceNames } from "../gateway/support/plan";
import { assignBuckets, steeringAddressOfPodCidr } from "../gateway/support/steering-oracle";
import { eventually, getJson, kubectlOk, report } from "./support/cluster";
import { WIRING, onlyObject } from "./support/component-objects";
import {
  DECODER_APP,
  DECODER_SELECTOR,
  ENVOY_SELECTOR,
  applyObjects,
  bridgeApiIntoNetns,
  deleteWorkloads,
  gatewayKubeconfig,
  kubectlPath,
  meshNodes,
  podsOf,
  setPodReady,
  since,
  stackWorkloads,
  tokenOfSecret,
  type ApiBridge,
  type MeshNode,
  type StackWorkloads,
} from "./support/steering";

/*
 * The gateway's steering agent (infra/gateway/steering-agent.ts, rendered as the gateway gets it) against the real API
 * server: the kubeconfig the gateway receives, with the token the token controller put in the gateway's token Secret,
 * the real kubectl, and the RBAC, Envoy DaemonSet and decoder Deployment/Service of the real components. It runs with
 * the real jq and nft in a network namespace holding the gateway's ruleset and a wireguard-go Kilo interface whose
 * peers are the nodes' kilo.squat.ai/key with their pod CIDRs (as kgctl connect sets them). kwok makes the pods Running
 * and Ready; the EndpointSlice controller fills the decoder's slices.
 *
 * On the VM the agent runs from a timer every steering.intervalSeconds; here it runs back to back (POLL_MS apart), so
 * the printed delays are API propagation plus one agent run, and the timer adds up to its interval on top.
 */

const KILO_IFACE = `kcl${process.pid % 100000}`;
const POLL_MS = 500;
const ns = uniqueNetnsName("steer");
const options = withInterfaceNames(
  gatewayPlan({
    steering: {
      ingressNodeLabel: WIRING.ingressNodeLabel,
      envoyNamespace: WIRING.ingressNamespace,
      envoyPodSelector: ENVOY_POD_SELECTOR,
      decoderNamespace: WIRING.decoderNamespace,
      decoderServiceName: WIRING.decoderService,
    },
  }),
  { kilo: KILO_IFACE },
);

let work = "";
let paths: GatewayPaths = DEFAULT_GATEWAY_PATHS;
let agent = "";
let wireguardPid: number | undefined;
let bridge: ApiBridge | undefined;
let workloads: StackWorkloads | undefined;
let nodes: MeshNode[] = [];
let ingressNodes: MeshNode[] = [];

interface AgentRun {
  status: number | null;
  stderr: string;
  ms: number;
}

/** One `iot-steering-agent sync`, in the namespace, as the systemd service runs it. Asynchronous: kubectl needs the bridge. */
function sync(): Promise<AgentRun> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", ns, "bash", agent, "sync"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, CACHE_DIRECTORY: path.join(work, "cache") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (status) => resolve({ status, stderr, ms: since(start) }));
  });
}

/** The map as bucket -> steering address, read back from the kernel. */
function loadedMap(): string[] {
  const text = nsExec(ns, "nft", ["list", "map", "ip", "iot_gateway_nat", "steer_buckets"]);
  const buckets: string[] = [];
  for (const match of text.matchAll(/(\d+) : (\d+\.\d+\.\d+\.\d+)/g)) buckets[Number(match[1])] = match[2];
  return buckets;
}

const targetOf = (node: MeshNode): SteeringTarget => ({ name: node.name, address: steeringAddressOfPodCidr(node.podCidr) });
const byName = (name: string): MeshNode => {
  const node = nodes.find((candidate) => candidate.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return node;
};
/** The map the agent must load for these node names. */
const expectedMap = (names: readonly string[]): string[] => assignBuckets(names.map((name) => targetOf(byName(name))), options.steering.buckets);
const appliedLine = (names: readonly string[]): string =>
  `applied steering to: ${[...names].sort().map((name) => `${name}=${targetOf(byName(name)).address}`).join(" ")}\n`;
const mapNodes = (map: readonly string[]): string[] =>
  nodes.filter((node) => map.includes(targetOf(node).address)).map((node) => node.name).sort();

/** Node names of the decoder's ready endpoints, as the EndpointSlice controller published them. */
async function readyDecoderNodes(): Promise<string[]> {
  interface SliceList {
    items: Array<{ endpoints?: Array<{ nodeName?: string; conditions?: { ready?: boolean } }> }>;
  }
  const slices = await getJson<SliceList>(["-n", WIRING.decoderNamespace, "get", "endpointslices", "-l", `kubernetes.io/service-name=${WIRING.decoderService}`]);
  const names = slices.items.flatMap((slice) => (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.nodeName ?? ""));
  return [...new Set(names)].sort();
}

interface Followed {
  /** API change -> the EndpointSlice (or pod list) shows it, as seen by polling with the admin kubeconfig. */
  apiMs: number | undefined;
  /** API change -> the map the test waits for is loaded in the kernel. */
  mapMs: number;
  runs: number;
  lastRun: AgentRun;
}

/**
 * Polls `apiShows` (with the admin kubeconfig) from `changedAt` on, concurrently with whatever the test does, until it
 * holds; resolves to the delay, or undefined when it was stopped first.
 */
function watchApi(changedAt: number, apiShows: () => Promise<boolean>): { done: Promise<number | undefined>; stop: () => void } {
  let stopped = false;
  const done = (async () => {
    while (!stopped && since(changedAt) < 120_000) {
      if (await apiShows().catch(() => false)) return since(changedAt);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return undefined;
  })();
  return { done, stop: () => (stopped = true) };
}

/**
 * Runs the agent back to back until the loaded map is `expected`, after an API change made at `changedAt`; records when
 * `apiShows` first held. Only the deadline of `eventually` bounds it: times are printed, never asserted.
 */
async function followUntilMap(changedAt: number, expected: readonly string[], apiShows: () => Promise<boolean>): Promise<Followed> {
  const api = watchApi(changedAt, apiShows);
  let runs = 0;
  let lastRun: AgentRun = { status: null, stderr: "", ms: 0 };
  const want = JSON.stringify(expected);
  let mapMs = 0;
  try {
    await eventually(
      `the steering map to become ${mapNodes(expected).join(",")}`,
      async () => {
        lastRun = await sync();
        runs += 1;
        if (JSON.stringify(loadedMap()) === want) {
          mapMs = since(changedAt);
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        return undefined;
      },
      120_000,
    );
  } finally {
    // The API shows a change before the agent can act on it; give the poller a moment if it has not seen it yet.
    setTimeout(api.stop, 5_000);
  }
  return { apiMs: await api.done, mapMs, runs, lastRun };
}

/** The pod of `selector` on `node` (exactly one expected). */
async function podOn(namespace: string, selector: string, node: string): Promise<string> {
  const pods = (await podsOf(namespace, selector)).filter((pod) => pod.node === node && !pod.deleting);
  if (pods.length !== 1) throw new Error(`expected one pod of ${selector} on ${node}, found ${pods.map((p) => p.name).join(",") || "none"}`);
  return pods[0].name;
}

/** Waits until every ingress node has a Ready Envoy and `perNode` Ready decoders, and the slices say so. */
async function waitForServing(perNode: number): Promise<number> {
  const { ms } = await eventually(
    `a ready Envoy and ${perNode} ready decoder(s) on every ingress node`,
    async () => {
      const envoy = await podsOf(WIRING.ingressNamespace, ENVOY_SELECTOR);
      const decoders = await podsOf(WIRING.decoderNamespace, DECODER_SELECTOR);
      const ok = ingressNodes.every(
        (node) =>
          envoy.filter((p) => p.node === node.name && p.ready && !p.deleting).length === 1 &&
          decoders.filter((p) => p.node === node.name && p.ready && !p.deleting).length === perNode,
      );
      const total = decoders.filter((p) => !p.deleting).length === perNode * ingressNodes.length;
      return ok && total && JSON.stringify(await readyDecoderNodes()) === JSON.stringify(ingressNodes.map((n) => n.name).sort()) ? true : undefined;
    },
    180_000,
  );
  return ms;
}

async function scaleDecoders(replicas: number): Promise<void> {
  await kubectlOk(["-n", WIRING.decoderNamespace, "scale", "deployment", DECODER_APP, `--replicas=${replicas}`]);
}

beforeAll(async () => {
  for (const tool of ["ip", "nft", "conntrack", "jq", "bash", "wg", "wireguard-go", "flock"]) requireTool(tool);
  work = fs.mkdtempSync(path.join(os.tmpdir(), "steering-cluster-"));
  nodes = await meshNodes();
  ingressNodes = nodes.filter((node) => node.ingress).sort((a, b) => a.name.localeCompare(b.name));
  if (ingressNodes.length < 3) throw new Error(`these tests need at least 3 ingress nodes, the cluster has ${ingressNodes.length}`);

  workloads = await stackWorkloads(ingressNodes.length);
  await applyObjects(workloads.objects.map((entry) => entry.object));
  const { token, ms: tokenMs } = await tokenOfSecret(workloads.gatewayTokenSecret);
  const servingMs = await waitForServing(1);

  // The gateway's side: the kubeconfig it receives, the agent and its decision program, the ruleset, the Kilo interface.
  const kubeconfig = path.join(work, "kubeconfig");
  fs.writeFileSync(kubeconfig, gatewayKubeconfig(token), { mode: 0o600 });
  paths = {
    ...DEFAULT_GATEWAY_PATHS,
    kubectl: kubectlPath(),
    kubeconfig,
    steeringProgram: path.join(work, "steering-targets.jq"),
    steeringStateDir: path.join(work, "state"),
    steeringRunDir: path.join(work, "run"),
    nft: requireTool("nft"),
    conntrack: requireTool("conntrack"),
    jq: requireTool("jq"),
    wg: requireTool("wg"),
  };
  fs.writeFileSync(paths.steeringProgram, STEERING_TARGETS_JQ);
  agent = path.join(work, "iot-steering-agent");
  fs.writeFileSync(agent, renderSteeringAgentScript(options, paths));
  addNetns(ns);
  const ruleset = path.join(work, "ruleset.nft");
  fs.writeFileSync(ruleset, renderGatewayRuleset(options));
  nsExec(ns, "nft", ["-f", ruleset]);
  await startWireguardGo(ns, KILO_IFACE, (pid) => (wireguardPid = pid));
  const key = path.join(work, "kilo.key");
  fs.writeFileSync(key, generateKeyPair().privateKey);
  nsExec(ns, "wg", ["set", KILO_IFACE, "private-key", key]);
  // As kgctl connect configures it: one peer per node (Kilo segment), AllowedIPs its Kilo IP and its pod subnet
  // (squat/kilo pkg/mesh/topology.go: the segment's allowedIPs are the WireGuard IP and each node's subnet).
  for (const node of nodes) {
    const kiloIp = `${node.wireguardIp.split("/")[0]}/32`;
    nsExec(ns, "wg", ["set", KILO_IFACE, "peer", node.key, "allowed-ips", `${kiloIp},${node.podCidr}`]);
  }
  bridge = await bridgeApiIntoNetns(ns, work);
  report("setup", [
    { step: "gateway token Secret filled by the token controller", ms: tokenMs },
    { step: "Envoy DaemonSet and decoder Deployment Ready on every ingress node (scheduler, kwok, EndpointSlice controller)", ms: servingMs },
    { step: `agent runs (on the VM every ${options.steering.intervalSeconds} s; here back to back)`, ms: POLL_MS },
  ]);
}, 300_000);

afterAll(async () => {
  bridge?.stop();
  stopWireguardGo(wireguardPid, KILO_IFACE);
  deleteNetns(ns);
  await deleteWorkloads(workloads);
  if (work !== "") fs.rmSync(work, { recursive: true, force: true });
}, 180_000);

describe("steering agent against the real API server", () => {
  it("steers to exactly the ingress nodes with a ready Envoy and a ready local decoder", async () => {
    const result = await sync();
    const map = loadedMap();
    const envoy = await podsOf(WIRING.ingressNamespace, ENVOY_SELECTOR);
    const decoders = await podsOf(WIRING.decoderNamespace, DECODER_SELECTOR);
    const routes = nsExec(ns, "wg", ["show", KILO_IFACE, "allowed-ips"]);
    report(
      `first sync: exit ${result.status} in ${result.ms} ms`,
      nodes.map((node) => ({
        node: node.name,
        ingress: node.ingress,
        envoyReady: envoy.some((p) => p.node === node.name && p.ready),
        decoderReady: decoders.filter((p) => p.node === node.name && p.ready).map((p) => p.ip).join(",") || "-",
        podCIDR: node.podCidr,
        steeringAddress: targetOf(node).address,
        routedByKilo: routes.includes(`${node.key}\t`) && routes.includes(node.podCidr),
        buckets: map.filter((address) => address === targetOf(node).address).length,
      })),
    );
    const names = ingressNodes.map((node) => node.name);
    expect(result.stderr).toBe(appliedLine(names));
    expect(result.status).toBe(0);
    expect(map).toEqual(expectedMap(names));
    expect(mapNodes(map)).toEqual(names);
    // Envoy pods only on ingress nodes, one each; the general node has none and is never a target.
    expect(envoy.map((p) => p.node).sort()).toEqual(names);
    expect(decoders.map((p) => p.node).sort()).toEqual(names);
    const again = await sync();
    expect([again.status, again.stderr]).toEqual([0, ""]);
  });

  it("drops a node whose decoder turns unready, and takes it back when it is ready again", async () => {
    const [first, victim, third] = ingressNodes.map((node) => node.name);
    const pod = await podOn(WIRING.decoderNamespace, DECODER_SELECTOR, victim);
    const changedAt = Date.now();
    await setPodReady(WIRING.decoderNamespace, pod, false);
    const left = await followUntilMap(changedAt, expectedMap([first, third]), async () => !(await readyDecoderNodes()).includes(victim));
    const backAt = Date.now();
    await setPodReady(WIRING.decoderNamespace, pod, true);
    const back = await followUntilMap(backAt, expectedMap([first, victim, third]), async () => (await readyDecoderNodes()).includes(victim));
    report(`decoder ${pod} on ${victim}: readiness fails, then passes again`, [
      { change: "Ready=False", sliceUpdatedMs: left.apiMs, mapAppliedMs: left.mapMs, agentRuns: left.runs, lastAgentRun: left.lastRun.stderr.trim() },
      { change: "Ready=True", sliceUpdatedMs: back.apiMs, mapAppliedMs: back.mapMs, agentRuns: back.runs, lastAgentRun: back.lastRun.stderr.trim() },
    ]);
    expect(left.lastRun).toMatchObject({ status: 0, stderr: appliedLine([first, third]) });
    expect(back.lastRun).toMatchObject({ status: 0, stderr: appliedLine([first, victim, third]) });
  });

  it("drops a node whose Envoy turns unready", async () => {
    const [first, second, victim] = ingressNodes.map((node) => node.name);
    const pod = await podOn(WIRING.ingressNamespace, ENVOY_SELECTOR, victim);
    const changedAt = Date.now();
    await setPodReady(WIRING.ingressNamespace, pod, false);
    const envoyUnready = async () => !(await podsOf(WIRING.ingressNamespace, ENVOY_SELECTOR)).some((p) => p.node === victim && p.ready);
    const left = await followUntilMap(changedAt, expectedMap([first, second]), envoyUnready);
    const backAt = Date.now();
    await setPodReady(WIRING.ingressNamespace, pod, true);
    const back = await followUntilMap(backAt, expectedMap([first, second, victim]), async () => !(await envoyUnready()));
    report(`Envoy ${pod} on ${victim}: readiness fails, then passes again`, [
      { change: "Ready=False", podUpdatedMs: left.apiMs, mapAppliedMs: left.mapMs, agentRuns: left.runs },
      { change: "Ready=True", podUpdatedMs: back.apiMs, mapAppliedMs: back.mapMs, agentRuns: back.runs },
    ]);
    expect(left.lastRun).toMatchObject({ status: 0, stderr: appliedLine([first, second]) });
    expect(back.lastRun.status).toBe(0);
  });

  it("drops the node whose decoder goes away (scale-down), and follows a deleted decoder pod", async () => {
    const names = ingressNodes.map((node) => node.name);
    const scaledAt = Date.now();
    await scaleDecoders(names.length - 1);
    // Which node lost its decoder is the ReplicaSet controller's choice; read it from the API once it is done.
    const { value: remaining } = await eventually("the scale-down to leave one ingress node without a decoder", async () => {
      const pods = (await podsOf(WIRING.decoderNamespace, DECODER_SELECTOR)).filter((p) => !p.deleting);
      return pods.length === names.length - 1 ? [...new Set(pods.map((p) => p.node))].sort() : undefined;
    });
    expect(remaining.length).toBe(names.length - 1);
    const gone = names.filter((name) => !remaining.includes(name));
    const scaled = await followUntilMap(scaledAt, expectedMap(remaining), async () => !(await readyDecoderNodes()).includes(gone[0]));
    expect(scaled.lastRun).toMatchObject({ status: 0, stderr: appliedLine(remaining) });

    // Deleting a decoder pod: its endpoint turns not-ready at once (terminating), kwok removes the pod, and the
    // ReplicaSet's replacement goes to a node without a decoder (the spread constraint). The agent follows whatever the
    // slices say; where the replacement lands is the scheduler's choice.
    const deletedNode = remaining[0];
    const victim = await podOn(WIRING.decoderNamespace, DECODER_SELECTOR, deletedNode);
    const deletedAt = Date.now();
    await kubectlOk(["-n", WIRING.decoderNamespace, "delete", "pod", victim, "--wait=false"]);
    let leftMs: number | undefined;
    let settledMs = 0;
    const { value: settled } = await eventually(
      "the replacement decoder to be ready and steered to",
      async () => {
        const ready = await readyDecoderNodes();
        const pods = (await podsOf(WIRING.decoderNamespace, DECODER_SELECTOR)).filter((p) => !p.deleting && p.ready);
        await sync();
        const map = loadedMap();
        if (leftMs === undefined && !mapNodes(map).includes(deletedNode)) leftMs = since(deletedAt);
        const serving = [...new Set(pods.map((p) => p.node))].sort();
        if (pods.length === names.length - 1 && JSON.stringify(ready) === JSON.stringify(serving) && JSON.stringify(map) === JSON.stringify(expectedMap(serving))) {
          settledMs = since(deletedAt);
          return serving;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        return undefined;
      },
      120_000,
    );
    report("decoders go away", [
      { change: `scale ${names.length} -> ${names.length - 1}: ${gone.join(",")} has no decoder`, sliceUpdatedMs: scaled.apiMs, mapAppliedMs: scaled.mapMs, agentRuns: scaled.runs, steeredTo: remaining.join(",") },
      {
        change: `delete pod ${victim} on ${deletedNode}`,
        sliceUpdatedMs: "-",
        mapAppliedMs: `${deletedNode} out of the map after ${leftMs ?? "never (replaced before an agent run saw the gap)"} ms; replacement steered to after ${settledMs} ms`,
        steeredTo: settled.join(","),
      },
    ]);
    expect(settled.length).toBe(names.length - 1);

    await scaleDecoders(names.length);
    const restoredAt = Date.now();
    await waitForServing(1);
    const restored = await followUntilMap(restoredAt, expectedMap(names), async () => true);
    expect(restored.lastRun.status).toBe(0);
  });

  it("keeps the last map and exits 2 when the gateway's RoleBinding in the decoder namespace is missing", async () => {
    const names = ingressNodes.map((node) => node.name);
    const before = loadedMap();
    expect(before).toEqual(expectedMap(names));
    const binding = onlyObject(workloads!.objects, "RoleBinding", /-gateway-rolebinding-decoder$/);
    await kubectlOk(["-n", binding.metadata.namespace ?? "", "delete", "rolebinding", binding.metadata.name]);
    // The RBAC authorizer reads bindings through an informer: the deletion takes effect when its cache has it.
    const { value: denied, ms: deniedMs } = await eventually("the agent to be denied the decoder's EndpointSlices", async () => {
      const result = await sync();
      return result.status === 0 ? undefined : result;
    });
    const user = `system:serviceaccount:${workloads!.gatewayServiceAccount.namespace}:${workloads!.gatewayServiceAccount.name}`;
    expect(denied.status).toBe(STEERING_EXIT_API_ERROR);
    expect(denied.stderr).toContain(
      `User "${user}" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "${WIRING.decoderNamespace}"`,
    );
    expect(denied.stderr).toContain("error: cannot read the Kubernetes API; keeping the last good steering map\n");
    expect(loadedMap()).toEqual(before);

    await applyObjects([binding]);
    const { value: restored, ms: restoredMs } = await eventually("the agent to read the API again", async () => {
      const result = await sync();
      return result.status === 0 ? result : undefined;
    });
    report("gateway RoleBinding in the decoder namespace deleted, then re-applied", [
      { change: "deleted", firstDeniedRunMs: deniedMs, exit: denied.status, stderr: denied.stderr.trim().split("\n").join(" | "), mapKept: JSON.stringify(loadedMap()) === JSON.stringify(before) },
      { change: "re-applied", firstDeniedRunMs: restoredMs, exit: restored.status, stderr: restored.stderr.trim() || "(nothing: map unchanged)", mapKept: true },
    ]);
    expect(restored.stderr).toBe("");
    expect(loadedMap()).toEqual(before);
  });
});
