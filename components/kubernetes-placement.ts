import type { NodeTaint } from "./kosmos-cluster";

/** A node label as a key and a value. */
export interface NodeLabel {
  readonly key: string;
  readonly value: string;
}

/** Where ingress workloads run: the ingress pool's label and taint, as `KosmosCluster` outputs them. */
export interface IngressPlacement {
  /** Node label of the ingress pool. */
  readonly nodeLabel: NodeLabel;
  /** Taint of the ingress pool. */
  readonly nodeTaint: NodeTaint;
}

export function ingressNodeSelector(placement: IngressPlacement): Record<string, string> {
  return { [placement.nodeLabel.key]: placement.nodeLabel.value };
}

export function ingressToleration(placement: IngressPlacement) {
  return {
    key: placement.nodeTaint.key,
    operator: "Equal",
    value: placement.nodeTaint.value,
    effect: placement.nodeTaint.effect,
  };
}

/** The recommended labels every object of an app carries; the first two select its pods. */
export function appLabels(name: string, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "iot-udp-ingress",
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

export function selectorLabels(name: string, component: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/component": component };
}
