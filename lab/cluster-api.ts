import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { runOk } from "../harness/commands";
import { renderTokenKubeconfig } from "../infra/kubernetes";
import { componentKubernetesObjects, WIRING, type KubernetesObject } from "../test/cluster/support/component-objects";
import { bridgeApiIntoNetns, type ApiBridge } from "../test/cluster/support/steering";
import { type ApiState, type KiloAnnotations } from "./api-state";

/*
 * The lab's Kubernetes API: a local control plane (tools/kubernetes/local-cluster.sh) whose nodes are the lab's nodes
 * (names, public addresses, pod CIDRs), holding what a Kosmos cluster would tell the gateway: the nodes with the
 * annotations kg publishes, the Envoy pods (kwok runs them and reports them Ready) and the decoder EndpointSlices.
 * The steering agent reads it with the real kubectl and the gateway's own ServiceAccount token, through the RBAC the
 * WireguardGateway component declares; nothing is replayed.
 */

const CLUSTER_SCRIPT = join(__dirname, "..", "tools", "kubernetes", "local-cluster.sh");
/**
 * Who owns the lab's EndpointSlices. The Service has no selector, so the EndpointSlice controller makes none for it, and
 * it only ever lists slices labelled with its own manager name (k8s.io/kubernetes v1.37.2
 * pkg/controller/endpointslice/endpointslice_controller.go, syncService).
 */
const SLICE_MANAGER = "lab.iot-udp-ingress";
/** The gateway's identity objects of the WireguardGateway component. */
const IDENTITY_KINDS = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret"];

interface ClusterEnvironment {
  readonly kubeconfig: string;
  readonly server: string;
  readonly caFile: string;
  readonly bin: string;
}

function readClusterEnv(dir: string): ClusterEnvironment {
  const values = Object.fromEntries(
    readFileSync(join(dir, "cluster.env"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1).replace(/^"|"$/g, "")]),
  );
  return { kubeconfig: values.KUBECONFIG, server: values.LOCAL_CLUSTER_SERVER, caFile: values.LOCAL_CLUSTER_CA, bin: values.LOCAL_CLUSTER_BIN };
}

/** A node of the lab as the cluster gets it at start. */
export interface LabClusterNode {
  readonly name: string;
  readonly pool: string;
  readonly ingress: boolean;
  readonly publicIp: string;
  readonly podCidr: string;
}

export class LabCluster {
  private bridge: ApiBridge | undefined;

  private constructor(
    private readonly dir: string,
    private readonly env: ClusterEnvironment,
  ) {}

  /** Starts a cluster of the lab's nodes in `dir` (its own state directory: the tests' cluster is left alone). */
  static start(dir: string, nodes: readonly LabClusterNode[], log: (line: string) => void): LabCluster {
    mkdirSync(dir, { recursive: true });
    const nodesFile = join(dir, "..", "lab-nodes.txt");
    writeFileSync(nodesFile, nodes.map((n) => `${n.name} ${n.pool} ${n.ingress ? "ingress" : "general"} ${n.publicIp} ${n.podCidr}`).join("\n") + "\n");
    const started = Date.now();
    runOk("bash", [CLUSTER_SCRIPT, "start", "--nodes", nodesFile], undefined, { env: { ...process.env, LOCAL_CLUSTER_DIR: dir }, stdout: "ignore", stderr: "inherit" });
    log(`cluster: ${nodes.length} nodes Ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
    return new LabCluster(dir, readClusterEnv(dir));
  }

  /** Stops the cluster (also after a crash of the lab: local-cluster.sh finds its processes by state directory). */
  static stop(dir: string): void {
    // The API bridges are node processes of their own (started in gatewayKubeconfig); a lab that ends, or crashed,
    // without `close` leaves them, so they are found by the script they run from this state directory.
    const bridgeScript = join(dir, "api-bridge.js");
    for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(bridgeScript)) process.kill(Number(pid), "SIGKILL");
      } catch {
        /* exited meanwhile */
      }
    }
    try {
      runOk("bash", [CLUSTER_SCRIPT, "stop"], undefined, { env: { ...process.env, LOCAL_CLUSTER_DIR: dir }, stdout: "ignore", stderr: "inherit" });
    } catch {
      /* nothing ran */
    }
  }

  get kubectl(): string {
    return join(this.env.bin, "kubectl");
  }

  /**
   * Applies the gateway's identity as the WireguardGateway component declares it and returns the kubeconfig the gateway
   * would boot with: its ServiceAccount token, for the API server reached from inside `netns` (bridged to the host's
   * loopback, where the API server listens).
   */
  async gatewayKubeconfig(netns: string): Promise<string> {
    const objects = (await componentKubernetesObjects()).map(({ object }) => object).filter((object) => IDENTITY_KINDS.includes(object.kind));
    // The decoder namespace comes from DecoderService, which the lab does not run; the gateway's Role lives there.
    const decoderNamespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: WIRING.decoderNamespace } };
    const rank = (kind: string) => (kind === "Namespace" ? 0 : 1);
    this.apply([decoderNamespace, ...[...objects].sort((a, b) => rank(a.kind) - rank(b.kind))]);
    const secret = objects.find((object) => object.kind === "Secret" && object.type === "kubernetes.io/service-account-token");
    if (secret === undefined) throw new Error("the WireguardGateway component declares no token Secret");
    const token = await this.until(`the token controller to fill ${secret.metadata.name}`, () => {
      const data = this.json<{ data?: { token?: string } }>(["-n", secret.metadata.namespace ?? "", "get", "secret", secret.metadata.name]).data;
      return data?.token ? Buffer.from(data.token, "base64").toString("utf8") : undefined;
    });
    this.bridge = await bridgeApiIntoNetns(netns, this.dir, this.env.server);
    return renderTokenKubeconfig({
      clusterName: WIRING.gatewayName,
      server: this.env.server,
      caCertificate: readFileSync(this.env.caFile).toString("base64"),
      token,
      user: `${WIRING.gatewayName}-gateway`,
    });
  }

  /**
   * Makes the cluster hold `state`: its nodes (with kg's annotations for the members in `kilo`), the Envoy pods on their
   * nodes, the decoder EndpointSlices; what the state lacks is deleted. Returns once kwok reports every Envoy pod Ready.
   */
  async hold(state: ApiState, kilo: ReadonlyMap<string, KiloAnnotations>): Promise<void> {
    const now = String(Math.floor(Date.now() / 1000));
    const nodes = state.nodes.items.map((node) => {
      const k = kilo.get(node.metadata.name);
      const kiloAnnotations = k === undefined ? {} : { "kilo.squat.ai/key": k.key, "kilo.squat.ai/wireguard-ip": `${k.kiloIp}/16`, "kilo.squat.ai/last-seen": now };
      const { status: _status, ...rest } = node as typeof node & { status?: unknown };
      // kwok runs (and reports Ready) only the nodes that carry its annotation.
      return { ...rest, metadata: { ...rest.metadata, annotations: { ...(rest.metadata.annotations ?? {}), ...kiloAnnotations, "kwok.x-k8s.io/node": "fake" } } };
    });
    const envoyPods = state.envoyPods.items.map((pod) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.metadata.name, namespace: WIRING.ingressNamespace, labels: { "app.kubernetes.io/name": "envoy-udp-ingress" } },
      spec: {
        nodeName: pod.spec.nodeName,
        hostNetwork: true,
        tolerations: [{ operator: "Exists" }],
        containers: [{ name: "envoy", image: "envoyproxy/envoy:v1.40.2" }],
      },
    }));
    const slices = state.decoderSlices.items.map((slice) => {
      const labels = { ...(slice.metadata.labels ?? {}), "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER };
      return { ...slice, apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { ...slice.metadata, namespace: WIRING.decoderNamespace, labels } };
    });
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: WIRING.decoderService, namespace: WIRING.decoderNamespace },
      spec: { clusterIP: "None", ports: [{ name: "udp", protocol: "UDP", port: 7000 }] },
    };
    this.apply([...nodes, service, ...slices] as KubernetesObject[]);
    this.deleteOthers("nodes", "", nodes.map((node) => node.metadata.name));
    this.deleteOthers("pods", WIRING.ingressNamespace, envoyPods.map((pod) => pod.metadata.name));
    this.deleteOthers("endpointslices.discovery.k8s.io", WIRING.decoderNamespace, slices.map((slice) => slice.metadata.name), `endpointslice.kubernetes.io/managed-by=${SLICE_MANAGER}`);
    // A pod's spec cannot change: create the missing ones only. Admission refuses a pod until its namespace's `default`
    // ServiceAccount exists, a moment after the namespace, so a refusal is retried (with what is still missing).
    await this.until("the Envoy pods created", () => {
      const existing = new Set(this.names("pods", WIRING.ingressNamespace));
      const missing = envoyPods.filter((pod) => !existing.has(pod.metadata.name));
      if (missing.length === 0) return true;
      this.kubectlRun(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: missing }));
      return undefined;
    });
    await this.until("every Envoy pod Ready", () => {
      const pods = this.json<{ items: Array<{ metadata: { name: string }; status: { conditions?: Array<{ type: string; status: string }> } }> }>(["-n", WIRING.ingressNamespace, "get", "pods"]).items;
      const ready = pods.filter((pod) => (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"));
      return ready.length === envoyPods.length && pods.length === envoyPods.length ? true : undefined;
    });
  }

  /** Ends the API bridge; the cluster keeps running until `stop`. */
  close(): void {
    this.bridge?.stop();
    this.bridge = undefined;
  }

  apply(objects: readonly unknown[]): void {
    this.kubectlRun(["apply", "--server-side", "--force-conflicts", "--field-manager=lab", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  }

  private deleteOthers(resource: string, namespace: string, keep: readonly string[], selector?: string): void {
    const extra = this.names(resource, namespace, selector).filter((name) => !keep.includes(name));
    if (extra.length > 0) this.kubectlRun([...(namespace ? ["-n", namespace] : []), "delete", resource, "--wait=true", "--grace-period=0", "--force", ...extra]);
  }

  private names(resource: string, namespace: string, selector?: string): string[] {
    const list = this.json<{ items: Array<{ metadata: { name: string } }> }>([...(namespace ? ["-n", namespace] : []), "get", resource, ...(selector ? ["-l", selector] : [])]);
    return list.items.map((item) => item.metadata.name);
  }

  private json<T>(args: string[]): T {
    return JSON.parse(this.kubectlRun([...args, "-o", "json"])) as T;
  }

  private kubectlRun(args: string[], input?: string): string {
    return runOk(this.kubectl, args, input, { env: { ...process.env, KUBECONFIG: this.env.kubeconfig } });
  }

  private async until<T>(what: string, probe: () => T | undefined, deadlineMs = 60_000): Promise<T> {
    const start = Date.now();
    for (;;) {
      let value: T | undefined;
      try {
        value = probe();
      } catch {
        value = undefined;
      }
      if (value !== undefined) return value;
      if (Date.now() - start > deadlineMs) throw new Error(`lab cluster: gave up waiting for ${what} after ${deadlineMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
