import { readFileSync } from "fs";
import { join } from "path";

/** The recorded Kubernetes API state the steering decision and the EDS sidecar read (fields the lab uses). */
export interface ApiState {
  nodes: { apiVersion: string; kind: string; items: Array<{ metadata: { name: string; annotations: Record<string, string>; labels: Record<string, string> } }> };
  pods: { apiVersion: string; kind: string; items: Array<{ metadata: { name: string; namespace: string }; spec: { nodeName: string } }> };
  endpointSlices: { apiVersion: string; kind: string; items: Array<EndpointSliceFixture> };
}

export interface EndpointSliceFixture {
  metadata: { name: string; namespace: string };
  addressType: string;
  endpoints: Array<{ addresses: string[]; conditions?: { ready?: boolean }; nodeName?: string }>;
  ports: Array<{ name?: string; port?: number; protocol?: string }>;
}

export function loadApiState(): ApiState {
  return JSON.parse(readFileSync(join(__dirname, "fixtures", "api-state.json"), "utf8")) as ApiState;
}

/** The same state with one node gone: the node, its pods and its endpoints. */
export function withoutNode(state: ApiState, nodeName: string): ApiState {
  return {
    nodes: { ...state.nodes, items: state.nodes.items.filter((n) => n.metadata.name !== nodeName) },
    pods: { ...state.pods, items: state.pods.items.filter((p) => p.spec.nodeName !== nodeName) },
    endpointSlices: {
      ...state.endpointSlices,
      items: state.endpointSlices.items.map((s) => ({ ...s, endpoints: s.endpoints.filter((e) => e.nodeName !== nodeName) })),
    },
  };
}
