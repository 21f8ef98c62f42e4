import * as fs from "fs";
import * as path from "path";
import { bridgeApiIntoNetns as bridgeApiIntoNetnsAt, type ApiBridge } from "../../../harness/api-bridge";
import { renderTokenKubeconfig } from "../../../infra/kubernetes";
import { recordResources, settle } from "../../support/pulumi-mocks";
import { withSecretsRevealed } from "../../support/kubernetes-schema";
import { apply, clusterEnv, eventually, getJson, kubectl, kubectlOk } from "./cluster";
import { WIRING, componentKubernetesObjects, onlyObject, type ComponentObject, type KubernetesObject } from "./component-objects";

export type { ApiBridge };

/*
 * Shared by steering-agent.cluster-test.ts and eds-sidecar.cluster-test.ts: the stack's workloads as the real
 * components declare them (EnvoyUdpIngress's DaemonSet, RBAC and config, WireguardGateway's identity, DecoderService
 * and DecoderDeployment), applied to the local cluster, plus the pieces the clients need around them (the gateway's
 * token, a pod's projected-style token, pod readiness as a kubelet reports it, a path to the API from a netns).
 */

/** The decoder's UDP port in these tests (the stacks' `decoder.port` is configurable; any port works). */
export const DECODER_PORT = 5684;
export const DECODER_APP = "decoder";

/** Kinds applied for the workloads (the gateway's Kilo Peer is kilo-peer.cluster-test.ts's business). */
const WORKLOAD_KINDS = [
  "Namespace",
  "PriorityClass",
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Service",
  "Deployment",
  "DaemonSet",
  "PodDisruptionBudget",
  "NetworkPolicy",
  "Secret",
];

/** Which kinds to delete when a test is done (namespaces stay: other test files use them). */
const CLEANUP_KINDS = WORKLOAD_KINDS.filter((kind) => kind !== "Namespace");

export interface StackWorkloads {
  /** Every object, in the order the components declared them (namespaces first). */
  objects: ComponentObject[];
  gatewayServiceAccount: { name: string; namespace: string };
  envoyServiceAccount: { name: string; namespace: string };
  gatewayTokenSecret: KubernetesObject;
}

/**
 * Runs the real components under the Pulumi mocks: WireguardGateway and EnvoyUdpIngress through the cluster
 * harness's componentKubernetesObjects(), then DecoderService and DecoderDeployment wired as stacks/environment.ts
 * wires them (createNamespace, the ingress placement, replicas = ingress nodes).
 */
export async function stackWorkloads(replicas: number): Promise<StackWorkloads> {
  const gatewayAndEnvoy = await componentKubernetesObjects();
  const recorded = recordResources();
  const components = await import("../../../components");
  const placement = {
    nodeLabel: WIRING.ingressNodeLabel,
    nodeTaint: { ...WIRING.ingressNodeLabel, effect: "NoSchedule" as const },
  };
  const service = new components.DecoderService("decoder", {
    name: WIRING.decoderService,
    namespace: WIRING.decoderNamespace,
    createNamespace: true,
    port: DECODER_PORT,
  });
  new components.DecoderDeployment("decoder", {
    name: DECODER_APP,
    namespace: WIRING.decoderNamespace,
    selectorLabels: service.selectorLabels,
    image: "registry.example.com/iot/decoder:1.0.0",
    replicas,
    port: DECODER_PORT,
    placement,
    deviceSubnets: ["10.200.0.0/20"],
  });
  await settle();
  const decoder = recorded
    .filter((resource) => resource.custom && resource.type.startsWith("kubernetes:"))
    .map((resource) => ({ resource: resource.name, object: withSecretsRevealed(resource.inputs) as KubernetesObject }));
  const all = [...gatewayAndEnvoy, ...decoder].filter(({ object }) => WORKLOAD_KINDS.includes(object.kind));
  // Namespaces and cluster-scoped prerequisites first, so that one apply creates everything.
  const rank = (kind: string) => (kind === "Namespace" ? 0 : kind === "PriorityClass" ? 1 : 2);
  const objects = [...all].sort((a, b) => rank(a.object.kind) - rank(b.object.kind));
  const sa = (pattern: RegExp) => {
    const object = onlyObject(objects, "ServiceAccount", pattern);
    return { name: object.metadata.name, namespace: object.metadata.namespace ?? "" };
  };
  return {
    objects,
    gatewayServiceAccount: sa(/-gateway-sa$/),
    envoyServiceAccount: sa(/-envoy-sa$/),
    gatewayTokenSecret: onlyObject(objects, "Secret", /-gateway-token$/),
  };
}

export async function applyObjects(objects: readonly KubernetesObject[]): Promise<void> {
  const result = await apply([...objects]);
  if (result.code !== 0) throw new Error(`applying ${objects.length} objects failed: ${result.stderr}`);
}

/** Deletes what a test applied (not the namespaces) and waits until no pod of ours is left. */
export async function deleteWorkloads(workloads: StackWorkloads | undefined): Promise<void> {
  if (workloads === undefined) return;
  const items = workloads.objects.filter(({ object }) => CLEANUP_KINDS.includes(object.kind)).map(({ object }) => object);
  await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items }));
  await eventually(
    "the test's pods to be gone",
    async () => {
      const envoy = await podsOf(WIRING.ingressNamespace, ENVOY_SELECTOR);
      const decoders = await podsOf(WIRING.decoderNamespace, DECODER_SELECTOR);
      return envoy.length + decoders.length === 0 ? true : undefined;
    },
    120_000,
  );
}

export const ENVOY_SELECTOR = "app.kubernetes.io/name=envoy-udp-ingress";
export const DECODER_SELECTOR = `app.kubernetes.io/name=${DECODER_APP},app.kubernetes.io/component=decoder`;

/** The fields of a Pod these tests read. */
export interface PodView {
  name: string;
  node: string;
  ip: string;
  ready: boolean;
  deleting: boolean;
}

export async function podsOf(namespace: string, selector: string): Promise<PodView[]> {
  interface PodJson {
    metadata: { name: string; deletionTimestamp?: string };
    spec: { nodeName?: string };
    status: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
  }
  const list = await getJson<{ items: PodJson[] }>(["-n", namespace, "get", "pods", "-l", selector]);
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    node: pod.spec.nodeName ?? "",
    ip: pod.status.podIP ?? "",
    ready: (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    deleting: pod.metadata.deletionTimestamp !== undefined,
  }));
}

/**
 * Sets a pod's Ready condition as the kubelet does when its readiness probe starts failing (or passes again).
 * kwok's pod-ready stage only acts on Pending pods (kustomize/stage/pod/fast/pod-ready.yaml), so it leaves a Running
 * pod's conditions alone, and the EndpointSlice controller derives the endpoint's conditions from it
 * (k8s.io/endpointslice v0.37.2 utils.go `podToEndpoint`: `serving := IsPodReady(pod)`,
 * `ready := service.Spec.PublishNotReadyAddresses || (serving && !terminating)`).
 */
export async function setPodReady(namespace: string, pod: string, ready: boolean): Promise<void> {
  const status = ready ? "True" : "False";
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const conditions = ["Ready", "ContainersReady"].map((type) => ({ type, status, lastTransitionTime: now }));
  await kubectlOk(["-n", namespace, "patch", "pod", pod, "--subresource=status", "--type=strategic", "-p", JSON.stringify({ status: { conditions } })]);
}

/** Waits for the token controller to fill a ServiceAccount token Secret; returns the token and how long it took. */
export async function tokenOfSecret(secret: KubernetesObject): Promise<{ token: string; ms: number }> {
  const { value, ms } = await eventually(`the token controller to fill ${secret.metadata.name}`, async () => {
    const data = (await getJson<{ data?: { token?: string } }>(["-n", secret.metadata.namespace ?? "", "get", "secret", secret.metadata.name])).data;
    return data?.token ? Buffer.from(data.token, "base64").toString("utf8") : undefined;
  });
  return { token: value, ms };
}

/** The kubeconfig the gateway receives (components/wireguard-gateway.ts renders it the same way). */
export function gatewayKubeconfig(token: string): string {
  const env = clusterEnv();
  return renderTokenKubeconfig({
    clusterName: WIRING.gatewayName,
    server: env.server,
    caCertificate: fs.readFileSync(env.caFile).toString("base64"),
    token,
    user: `${WIRING.gatewayName}-gateway`,
  });
}

/** The cluster's kubectl. */
export function kubectlPath(): string {
  return path.join(clusterEnv().bin, "kubectl");
}

/** A node as the steering agent and Kilo see it. */
export interface MeshNode {
  name: string;
  podCidr: string;
  key: string;
  wireguardIp: string;
  ingress: boolean;
}

export async function meshNodes(): Promise<MeshNode[]> {
  interface NodeJson {
    metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: { podCIDR?: string };
  }
  const list = await getJson<{ items: NodeJson[] }>(["get", "nodes"]);
  return list.items.map((node) => ({
    name: node.metadata.name,
    podCidr: node.spec.podCIDR ?? "",
    key: node.metadata.annotations?.["kilo.squat.ai/key"] ?? "",
    wireguardIp: node.metadata.annotations?.["kilo.squat.ai/wireguard-ip"] ?? "",
    ingress: node.metadata.labels?.[WIRING.ingressNodeLabel.key] === WIRING.ingressNodeLabel.value,
  }));
}

/** Milliseconds since a start, for the printed tables. */
export function since(start: number): number {
  return Date.now() - start;
}

/** Counts of the API server's finished requests for namespaced EndpointSlices, by verb (`apiserver_request_total`). */
export async function endpointSliceRequestCounts(): Promise<Record<string, number>> {
  const metrics = await kubectlOk(["get", "--raw", "/metrics"]);
  const counts: Record<string, number> = {};
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    if (!line.includes('resource="endpointslices"') || !line.includes('scope="namespace"')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (verb !== undefined) counts[verb] = (counts[verb] ?? 0) + value;
  }
  return counts;
}

/** Bridges the API server at `server` (default: the tests' local cluster) into `netns` (harness/api-bridge.ts). */
export function bridgeApiIntoNetns(netns: string, work: string, server: string = clusterEnv().server): Promise<ApiBridge> {
  return bridgeApiIntoNetnsAt(netns, work, server);
}
