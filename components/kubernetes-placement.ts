import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

/** A Kubernetes node taint. */
export interface NodeTaint {
  readonly key: string;
  readonly value: string;
  readonly effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** A node label as a key and a value. */
export interface NodeLabel {
  readonly key: string;
  readonly value: string;
}

/** Where ingress workloads run: the ingress nodes' label and taint, as `KosmosCluster` and `ExistingCluster` output them. */
export interface IngressPlacement {
  /** Node label of the ingress pool. */
  readonly nodeLabel: NodeLabel;
  /** Taint of the ingress pool. */
  readonly nodeTaint: NodeTaint;
}

/** Key of the ingress nodes' label and taint when none is given. */
export const DEFAULT_INGRESS_ROLE_KEY = "iot-udp-ingress/role";
const INGRESS_ROLE_VALUE = "ingress";

/** The label and taint that mark ingress nodes: `<roleKey>=ingress`, tainted NoSchedule so nothing else lands there. */
export function ingressRole(roleKey: string = DEFAULT_INGRESS_ROLE_KEY): IngressPlacement {
  return {
    nodeLabel: { key: roleKey, value: INGRESS_ROLE_VALUE },
    nodeTaint: { key: roleKey, value: INGRESS_ROLE_VALUE, effect: "NoSchedule" },
  };
}

/** What the components on a cluster need from it, whether the stack created it (`KosmosCluster`) or not (`ExistingCluster`). */
export interface ClusterConnection {
  /** URL of the Kubernetes API server. */
  readonly apiServerUrl: pulumi.Output<string>;
  /** The cluster's CA certificate, base64 PEM as in kubeconfig. */
  readonly clusterCaCertificate: pulumi.Output<string>;
  /** Admin kubeconfig (secret). */
  readonly kubeconfig: pulumi.Output<string>;
  /** Kubernetes provider for the cluster. */
  readonly provider: k8s.Provider;
  /** The ingress nodes' label, for nodeSelectors. */
  readonly ingressNodeLabel: NodeLabel;
  /** The ingress nodes' taint, for tolerations. */
  readonly ingressNodeTaint: NodeTaint;
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
