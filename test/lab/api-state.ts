import { mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { type EndpointSliceFixture } from "./eds";

/**
 * A recorded Kubernetes API state: the responses to the three queries the steering agent
 * makes (`kubectl get ... -o json`): nodes, the Envoy pods, the decoder EndpointSlices.
 * The EDS sidecar logic reads the same EndpointSlices.
 */
export interface ApiState {
  nodes: KubeList<{ metadata: { name: string; annotations?: Record<string, string> } }>;
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

/**
 * Writes the state where the replaying kubectl reads it. kg's check-in is played too: every node in `kilo` gets its
 * `kilo.squat.ai/key` and `wireguard-ip` and a `last-seen` of now (kg refreshes it every 30 s; pkg/k8s/backend.go).
 */
export function writeApiState(state: ApiState, dir: string, kilo: ReadonlyMap<string, KiloAnnotations> = new Map()): void {
  mkdirSync(dir, { recursive: true });
  const now = String(Math.floor(Date.now() / 1000));
  const nodes = {
    ...state.nodes,
    items: state.nodes.items.map((n) => {
      const k = kilo.get(n.metadata.name);
      if (k === undefined) return n;
      const annotations = { ...(n.metadata.annotations ?? {}), "kilo.squat.ai/key": k.key, "kilo.squat.ai/wireguard-ip": `${k.kiloIp}/16`, "kilo.squat.ai/last-seen": now };
      return { ...n, metadata: { ...n.metadata, annotations } };
    }),
  };
  const out: ApiState = { ...state, nodes };
  for (const [key, file] of Object.entries(FILES)) writeFileSync(join(dir, file), JSON.stringify(out[key as keyof ApiState], null, 2));
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

/**
 * A kubectl that replays the recorded state for exactly the agent's three queries and fails
 * on anything else, so a change in what the agent asks for shows up as a lab failure.
 */
export function replayKubectlScript(apiDir: string, q: { envoyNamespace: string; envoySelector: string; decoderNamespace: string; decoderService: string }): string {
  return `#!/bin/bash
# Replays a recorded Kubernetes API state (lab only).
set -euo pipefail
args="$*"
case "$args" in
  *" get nodes -o json") exec cat '${apiDir}/${FILES.nodes}' ;;
  *" get pods --namespace ${q.envoyNamespace} --selector ${q.envoySelector} -o json") exec cat '${apiDir}/${FILES.envoyPods}' ;;
  *" get endpointslices.discovery.k8s.io --namespace ${q.decoderNamespace} --selector kubernetes.io/service-name=${q.decoderService} -o json") exec cat '${apiDir}/${FILES.decoderSlices}' ;;
esac
echo "replay kubectl: no recording for: $args" >&2
exit 1
`;
}
