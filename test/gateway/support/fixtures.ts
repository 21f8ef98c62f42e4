import { writeFileSync } from "fs";
import { join } from "path";
import { STEERING_TARGETS_JQ, type SteeringDecision } from "../../../infra/gateway";
import { withTempDir } from "./checkers";
import { run } from "./tools";

/** Kubernetes API objects as `kubectl get -o json` returns them, reduced to the fields the decision reads. */

export const INGRESS_LABEL = { key: "iot-udp-ingress/role", value: "ingress" };
export const DECODER_SERVICE = "decoder";

export interface NodeSpec {
  readonly name: string;
  /** Kilo annotation value, e.g. `10.4.0.1/16`; omitted: no annotation. */
  readonly kiloIp?: string;
  readonly ingress?: boolean;
  readonly ready?: boolean;
}

export function node(spec: NodeSpec): object {
  return {
    kind: "Node",
    metadata: {
      name: spec.name,
      labels: spec.ingress === false ? { "kubernetes.io/hostname": spec.name } : { [INGRESS_LABEL.key]: INGRESS_LABEL.value },
      annotations: spec.kiloIp === undefined ? { "kilo.squat.ai/key": "x" } : { "kilo.squat.ai/wireguard-ip": spec.kiloIp },
    },
    status: { conditions: [{ type: "Ready", status: spec.ready === false ? "False" : "True" }] },
  };
}

export function envoyPod(nodeName: string, ready = true, deleting = false): object {
  return {
    kind: "Pod",
    metadata: { name: `envoy-${nodeName}`, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec: { nodeName },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

export interface EndpointSpec {
  readonly nodeName: string;
  /** Omitted: no `ready` condition, which EndpointSlice semantics read as ready. */
  readonly ready?: boolean;
}

export function decoderSlice(endpoints: readonly EndpointSpec[], service = DECODER_SERVICE): object {
  return {
    kind: "EndpointSlice",
    metadata: { name: `${service}-abc`, labels: { "kubernetes.io/service-name": service } },
    endpoints: endpoints.map((endpoint, i) => ({
      addresses: [`100.64.${i}.10`],
      nodeName: endpoint.nodeName,
      conditions: endpoint.ready === undefined ? {} : { ready: endpoint.ready },
    })),
  };
}

export interface ApiState {
  readonly nodes: readonly object[];
  readonly envoyPods: readonly object[];
  readonly decoderSlices: readonly object[];
}

export function apiLists(state: ApiState): { nodes: object; pods: object; slices: object } {
  return {
    nodes: { kind: "NodeList", apiVersion: "v1", items: state.nodes },
    pods: { kind: "PodList", apiVersion: "v1", items: state.envoyPods },
    slices: { kind: "EndpointSliceList", apiVersion: "discovery.k8s.io/v1", items: state.decoderSlices },
  };
}

/** A healthy ingress node: labelled, Ready, annotated, with a Ready Envoy and a ready local decoder. */
export function healthyNodes(count: number): ApiState {
  const names = Array.from({ length: count }, (_, i) => `ingress-${i + 1}`);
  return {
    nodes: names.map((name, i) => node({ name, kiloIp: `10.4.0.${i + 1}/16` })),
    envoyPods: names.map((name) => envoyPod(name)),
    decoderSlices: [decoderSlice(names.map((nodeName) => ({ nodeName, ready: true })))],
  };
}

/** Runs the decision program with the real jq, as the agent does (program from a file, same arguments). */
export function runDecision(state: ApiState, buckets = 16): SteeringDecision {
  const lists = apiLists(state);
  return withTempDir("decision-", (dir) => {
    const program = join(dir, "steering-targets.jq");
    writeFileSync(program, STEERING_TARGETS_JQ);
    const input = JSON.stringify({ nodes: lists.nodes, envoyPods: lists.pods, decoderSlices: lists.slices });
    const result = run(
      "jq",
      [
        "-c",
        "--arg", "labelKey", INGRESS_LABEL.key,
        "--arg", "labelValue", INGRESS_LABEL.value,
        "--arg", "decoderService", DECODER_SERVICE,
        "--argjson", "buckets", String(buckets),
        "-f", program,
      ],
      input,
    );
    if (result.status !== 0) throw new Error(`jq failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as SteeringDecision;
  });
}
