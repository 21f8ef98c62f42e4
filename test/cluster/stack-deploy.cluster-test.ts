import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseStackConfig } from "../../stacks/config";
import { rawConfigOfStack, onExistingCluster, STACKS } from "../support/stack-files";
import { kosmosCluster } from "../support/valid-config";
import { CLUSTER_SCRIPT, eventually, getJson, kubectl, kubectlOk, report } from "./support/cluster";
import { errorDiagnostics, resourceChanges, ScratchStack } from "./support/pulumi-stack";

/*
 * Each stack file's Kubernetes layer deployed with the real engine and the real kubernetes provider onto a local
 * cluster shaped like that stack's pools (`cluster.existing`, `gateway.externalHost`): the API server admits every
 * object, the scheduler places them, a drain completes, a second `pulumi up` changes nothing and `pulumi destroy`
 * leaves nothing of ours. Each stack gets a cluster of its own (its own state directory under the stack's scratch
 * directory), so the shared cluster of the other tests is left alone.
 */

const GATEWAY_IP = "192.0.2.250";
const PART_OF = "app.kubernetes.io/part-of=iot-udp-ingress";
const LONG = 15 * 60 * 1000;

interface Node {
  metadata: { name: string; labels: Record<string, string> };
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: { phase: string };
}

/** One node a line for local-cluster.sh, shaped like the stack file's Scaleway pools (external pools start empty). */
function nodesOfStackFile(stack: string): { lines: string[]; ingressNodes: number } {
  const cluster = kosmosCluster(parseStackConfig(rawConfigOfStack(stack)).cluster);
  const lines: string[] = [];
  for (let i = 1; i <= cluster.ingressPool.size; i += 1) lines.push(`ingress-${i} ingress ingress 192.0.2.${10 + i}`);
  let general = 0;
  for (const pool of cluster.generalPools) {
    for (let i = 1; i <= pool.size; i += 1) lines.push(`${pool.name}-${i} ${pool.name} general 192.0.2.${100 + (general += 1)}`);
  }
  return { lines, ingressNodes: cluster.ingressPool.size };
}

/** The stack file's sections on the local cluster: no Scaleway API here, so a public decoder image and a pinned kgctl. */
function deploySections(stack: string, ingressNodes: number): Record<string, any> {
  // The kubeconfig is set afterwards as a secret (ScratchStack.create), never written in plain.
  const sections = onExistingCluster(rawConfigOfStack(stack), { kubeconfig: "", ingressNodes, gatewayPublicIp: GATEWAY_IP });
  delete sections.cluster.existing.kubeconfig;
  sections.decoder.imagePullCredentials = "none";
  // The cloud-init is rendered but never booted here; a plan may not deploy with an unpinned sum (stacks/environment.ts).
  sections.gateway.tools.kgctl.sha256 ??= "a".repeat(64);
  return sections;
}

/** Pods of a namespace by node. */
async function podsByNode(namespace: string): Promise<Record<string, number>> {
  const pods = (await getJson<{ items: Pod[] }>(["-n", namespace, "get", "pods"])).items;
  const counts: Record<string, number> = {};
  for (const pod of pods) counts[pod.spec.nodeName ?? "(unscheduled)"] = (counts[pod.spec.nodeName ?? "(unscheduled)"] ?? 0) + 1;
  return counts;
}

/** Every object of ours still in the cluster: labelled part-of us, or one of the names the stack gives. */
async function objectsOfOurs(): Promise<string[]> {
  const kinds = (await kubectlOk(["api-resources", "--verbs=list,delete", "-o", "name"])).split("\n").filter((kind) => kind !== "" && kind !== "events" && kind !== "events.events.k8s.io");
  const found: string[] = [];
  for (const kind of kinds) {
    const result = await kubectl(["get", kind, "-A", "-l", PART_OF, "-o", "name"]);
    if (result.code === 0) found.push(...result.stdout.split("\n").filter((line) => line !== ""));
  }
  for (const namespace of ["iot-ingress", "iot-decoder"]) {
    if ((await kubectl(["get", "namespace", namespace])).code === 0) found.push(`namespace/${namespace}`);
  }
  return [...new Set(found)].sort();
}

describe.each(STACKS)("the %s stack file deployed with the real engine onto a local cluster", (stack) => {
  let scratch: ScratchStack;
  let clusterDir: string;
  let clusterDirBefore: string | undefined;
  let ingressNodes: number;
  let created: Record<string, number>;

  beforeAll(async () => {
    const nodes = nodesOfStackFile(stack);
    ingressNodes = nodes.ingressNodes;
    scratch = await ScratchStack.create(stack, deploySections(stack, ingressNodes), {});
    clusterDir = path.join(scratch.dir, "cluster");
    const nodesFile = path.join(scratch.dir, "nodes.txt");
    fs.writeFileSync(nodesFile, `${nodes.lines.join("\n")}\n`);
    // The cluster helpers (kubectl, getJson) follow LOCAL_CLUSTER_DIR; it is restored after this stack.
    clusterDirBefore = process.env.LOCAL_CLUSTER_DIR;
    process.env.LOCAL_CLUSTER_DIR = clusterDir;
    const kubeconfigPath = execFileSync("bash", [CLUSTER_SCRIPT, "start", "--nodes", nodesFile], {
      encoding: "utf8",
      env: { ...process.env, LOCAL_CLUSTER_DIR: clusterDir },
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    await scratch.setSecret("cluster.existing.kubeconfig", fs.readFileSync(kubeconfigPath, "utf8"));
  }, LONG);

  afterAll(() => {
    try {
      execFileSync("bash", [CLUSTER_SCRIPT, "stop"], { env: { ...process.env, LOCAL_CLUSTER_DIR: clusterDir }, stdio: ["ignore", "ignore", "inherit"] });
    } finally {
      if (clusterDirBefore === undefined) delete process.env.LOCAL_CLUSTER_DIR;
      else process.env.LOCAL_CLUSTER_DIR = clusterDirBefore;
      scratch?.remove();
    }
  });

  it("keeps the kubeconfig encrypted in the stack's config file", () => {
    const text = fs.readFileSync(scratch.configFile, "utf8");
    expect(text).toMatch(/kubeconfig:\n\s+secure: v1:/);
    expect(text).not.toContain("BEGIN CERTIFICATE");
    expect(text).not.toContain("client-key-data");
  });

  it(
    "`pulumi up` creates every object, admitted by the API server and the Peer CRD's validation",
    async () => {
      const result = await scratch.run(["up", "--yes", "--skip-preview", "--json"]);
      expect(errorDiagnostics(result)).toEqual([]);
      expect(result.code).toBe(0);
      created = resourceChanges(result);
      report(`${stack}: first pulumi up (${(result.ms / 1000).toFixed(1)} s)`, [created]);
      expect(Object.keys(created)).toEqual(["create"]);
      const state = JSON.parse((await scratch.mustRun(["stack", "export"])).stdout) as { deployment: { resources: { type: string }[] } };
      const types = state.deployment.resources.map((resource) => resource.type);
      // The probe `destroy` is checked with sees the stack's objects now (and the pods, ReplicaSets and slices the
      // controllers made from them, which carry the same labels), so an empty answer later means gone.
      const kubernetesObjects = types.filter((type) => type.startsWith("kubernetes:")).length;
      const ours = await objectsOfOurs();
      report(`${stack}: Kubernetes objects in the state and found in the cluster`, [{ inState: kubernetesObjects, found: ours.length }]);
      expect(ours.length).toBeGreaterThanOrEqual(kubernetesObjects);
      expect(types.filter((type) => type.startsWith("scaleway:"))).toEqual([]);
      expect(types.filter((type) => type === "kubernetes:kilo.squat.ai/v1alpha1:Peer")).toHaveLength(1);
      const peer = await getJson<{ spec: Record<string, unknown> }>(["get", "peers.kilo.squat.ai", `${stack}-gateway`]);
      expect(peer.spec.endpoint).toEqual({ dnsOrIP: { ip: GATEWAY_IP }, port: 51820 });
      const outputs = await scratch.outputs();
      expect(outputs.gatewayPublicIp).toBe(GATEWAY_IP);
      expect(outputs.clusterId).toBeUndefined();
      expect(String(outputs.gatewayCloudInit)).toMatch(/^#cloud-config\n/);
    },
    LONG,
  );

  it("places one Envoy on each ingress node, the decoders on ingress nodes only, each node with its own, and the add-ons elsewhere", async () => {
    const nodes = (await getJson<{ items: Node[] }>(["get", "nodes"])).items;
    const ingress = nodes.filter((node) => node.metadata.labels["iot-udp-ingress/role"] === "ingress").map((node) => node.metadata.name).sort();
    expect(ingress).toHaveLength(ingressNodes);
    const { value: envoy, ms } = await eventually("an Envoy on every ingress node", async () => {
      const counts = await podsByNode("iot-ingress");
      return Object.keys(counts).sort().join() === ingress.join() ? counts : undefined;
    });
    const decoders = await podsByNode("iot-decoder");
    const addOn = (await getJson<{ items: Pod[] }>(["-n", "kube-system", "get", "pods"])).items.map((pod) => pod.spec.nodeName ?? "(unscheduled)");
    report(`${stack}: placement after pulumi up (Envoy complete after ${ms} ms)`, [
      ...ingress.map((node) => ({ node, envoy: envoy[node] ?? 0, decoders: decoders[node] ?? 0 })),
      { node: "add-on stand-in", envoy: "", decoders: addOn.join(" ") },
    ]);
    expect(Object.values(envoy)).toEqual(ingress.map(() => 1));
    expect(Object.keys(decoders).sort()).toEqual(ingress);
    const replicas = parseStackConfig(rawConfigOfStack(stack)).decoder.replicas;
    const perNode = Object.values(decoders);
    expect(perNode.reduce((sum, count) => sum + count, 0)).toBe(replicas);
    expect(Math.max(...perNode) - Math.min(...perNode)).toBeLessThanOrEqual(1);
    expect(addOn.length).toBeGreaterThan(0);
    addOn.forEach((node) => expect(ingress).not.toContain(node));
  });

  it("drains an ingress node while the decoders' PDB and spread constraint hold", async () => {
    const node = "ingress-1";
    const started = Date.now();
    const drain = await kubectl(["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"]);
    const drainMs = Date.now() - started;
    try {
      // A refusal by the decoders' PDB is the budget doing its job: kubectl drain prints a 429 TooManyRequests from the
      // eviction API as "error when evicting pods/... (will retry after ...)" and retries it until the replacement is
      // ready (k8s.io/kubectl v0.37.2 pkg/drain/drain.go, evictPods), which takes longer on a loaded machine. Any other
      // error fails the test.
      const pdbRetry = /^error when evicting pods\/"[^"]+" -n "iot-decoder" \(will retry after \d+s\): Cannot evict pod as it would violate the pod's disruption budget\.$/;
      const otherLines = drain.stderr.split("\n").filter((line) => !pdbRetry.test(line));
      expect(otherLines.join("\n")).not.toMatch(/error/i);
      expect(drain.code).toBe(0);
      const { value: decoders, ms } = await eventually("every decoder running again, none on the drained node", async () => {
        const pods = (await getJson<{ items: Pod[] }>(["-n", "iot-decoder", "get", "pods"])).items;
        const running = pods.filter((pod) => pod.status.phase === "Running" && pod.spec.nodeName !== undefined);
        return running.length === pods.length && pods.every((pod) => pod.spec.nodeName !== node) ? podsByNode("iot-decoder") : undefined;
      });
      const refusals = (drain.stderr.match(/Cannot evict pod as it would violate the pod's disruption budget/g) ?? []).length;
      report(`${stack}: kubectl drain ${node}`, [{ drainMs, pdbRefusals: refusals, rescheduledAfterMs: ms, decodersByNode: decoders }]);
      expect(Object.keys(decoders)).not.toContain(node);
    } finally {
      await kubectlOk(["uncordon", node]);
    }
  }, LONG);

  it(
    "a second `pulumi up` changes nothing",
    async () => {
      const result = await scratch.run(["up", "--yes", "--skip-preview", "--expect-no-changes", "--json"]);
      expect(errorDiagnostics(result)).toEqual([]);
      expect(result.code).toBe(0);
      const changes = resourceChanges(result);
      report(`${stack}: second pulumi up (${(result.ms / 1000).toFixed(1)} s)`, [changes]);
      expect(changes).toEqual({ same: created.create });
    },
    LONG,
  );

  it(
    "`pulumi destroy` leaves no object of ours",
    async () => {
      const result = await scratch.run(["destroy", "--yes", "--skip-preview", "--json"]);
      expect(errorDiagnostics(result)).toEqual([]);
      expect(result.code).toBe(0);
      const changes = resourceChanges(result);
      const { value: left, ms } = await eventually("our objects gone", async () => {
        const objects = await objectsOfOurs();
        return objects.length === 0 ? objects : undefined;
      });
      report(`${stack}: pulumi destroy (${(result.ms / 1000).toFixed(1)} s, cluster clean ${ms} ms later)`, [changes]);
      expect(changes).toEqual({ delete: created.create });
      expect(left).toEqual([]);
    },
    LONG,
  );
});
