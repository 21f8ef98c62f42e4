import { readFileSync } from "fs";
import { join } from "path";
import { type EndpointSliceFixture } from "./eds";

/**
 * The Kubernetes API state a scenario wants: the nodes, the Envoy pods, the decoder EndpointSlices (what the steering
 * agent lists). The lab's API server is made to hold it (cluster-api.ts); the EDS sidecar logic reads the same slices.
 */
export interface ApiState {
  nodes: KubeList<{ metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } }>;
  envoyPods: KubeList<{ metadata: { name: string }; spec: { nodeName: string } }>;
  decoderSlices: KubeList<EndpointSliceFixture>;
}

interface KubeList<T> {
  apiVersion: string;
  kind: string;
  items: T[];
}

const FIXTURE_DIR = join(__dirname, "fixtures", "api");
const FILES = { nodes: "nodes.json", envoyPods: "envoy-pods.json", decoderSlices: "decoder-slices.json" } as const;

export function loadApiState(): ApiState {
  const read = (f: string) => JSON.parse(readFileSync(join(FIXTURE_DIR, f), "utf8"));
  return { nodes: read(FILES.nodes), envoyPods: read(FILES.envoyPods), decoderSlices: read(FILES.decoderSlices) };
}

/** What kg publishes on a node and the lab only knows at run time: the node's key and Kilo IP. */
export interface KiloAnnotations {
  readonly key: string;
  readonly kiloIp: string;
}

/** The state with one more node (general pool: no Envoy, no decoder). */
export function withNode(state: ApiState, node: { name: string; podCidr: string; publicIp: string }): ApiState {
  const item = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      labels: { "kubernetes.io/hostname": node.name, "k8s.scaleway.com/pool-name": "general" },
      annotations: { "kilo.squat.ai/endpoint": `${node.publicIp}:51820`, "kilo.squat.ai/granularity": "location" },
    },
    spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
  return { ...state, nodes: { ...state.nodes, items: [...state.nodes.items, item] } };
}

/** The same state with one node gone: the node, its Envoy pod and its decoder endpoints. */
export function withoutNode(state: ApiState, nodeName: string): ApiState {
  return {
    nodes: { ...state.nodes, items: state.nodes.items.filter((n) => n.metadata.name !== nodeName) },
    envoyPods: { ...state.envoyPods, items: state.envoyPods.items.filter((p) => p.spec.nodeName !== nodeName) },
    decoderSlices: {
      ...state.decoderSlices,
      items: state.decoderSlices.items.map((s) => ({ ...s, endpoints: (s.endpoints ?? []).filter((e) => e.nodeName !== nodeName) })),
    },
  };
}
