import { EdsFile } from "../infra/envoy/eds-sidecar/eds-file";
import { renderEdsFile } from "../infra/envoy/eds-sidecar/endpoints";

/** discovery.k8s.io/v1 EndpointSlice fields the sidecar and the steering program read. */
export interface EndpointSliceFixture {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  addressType: string;
  endpoints: Array<{ addresses: string[]; conditions?: { ready?: boolean }; nodeName?: string }>;
  ports: Array<{ name?: string; port?: number; protocol?: string }>;
}

/** Writes the EDS file the sidecar would write on `nodeName`, with the sidecar's own functions. */
export function writeEdsFile(path: string, slices: readonly EndpointSliceFixture[], nodeName: string, clusterName: string, portName: string): void {
  new EdsFile(path).write(renderEdsFile(slices, { nodeName, clusterName, portName }));
}
