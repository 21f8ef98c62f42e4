import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { kubeconfigCluster, type KubeconfigCluster } from "../infra/kubernetes";
import { ingressRole, type ClusterConnection, type NodeLabel, type NodeTaint } from "./kubernetes-placement";

export interface ExistingClusterArgs {
  /**
   * Kubeconfig whose current context reaches the cluster with rights to create namespaces, RBAC, CRD objects and
   * workloads. Its cluster entry must carry the CA inline (`certificate-authority-data`): the gateway's own kubeconfig
   * is built from it. Kept secret.
   */
  kubeconfig: pulumi.Input<string>;
  /**
   * Key of the label and taint that mark the ingress nodes (`<key>=ingress`, taint effect NoSchedule). The nodes must
   * already carry both: on Kosmos set them on the pool, elsewhere with `kubectl label` and `kubectl taint`.
   * Default: `iot-udp-ingress/role`.
   */
  ingressRoleKey?: string;
}

/**
 * A cluster the stack does not create: a Kubernetes provider for it and the values the other components take from
 * `KosmosCluster`. The cluster must run Kilo (the gateway is a Kilo Peer) and have its ingress nodes labelled and
 * tainted; nothing here creates or changes a node.
 */
export class ExistingCluster extends pulumi.ComponentResource implements ClusterConnection {
  public readonly apiServerUrl: pulumi.Output<string>;
  public readonly clusterCaCertificate: pulumi.Output<string>;
  /** The kubeconfig given (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly provider: k8s.Provider;
  public readonly ingressNodeLabel: NodeLabel;
  public readonly ingressNodeTaint: NodeTaint;

  constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:ExistingCluster", name, {}, opts);
    const role = ingressRole(args.ingressRoleKey);
    this.ingressNodeLabel = role.nodeLabel;
    this.ingressNodeTaint = role.nodeTaint;

    // A plain kubeconfig is checked now, so a bad one fails the plan with its property path; one that is only known
    // later is checked when it resolves.
    if (typeof args.kubeconfig === "string") checkedCluster(args.kubeconfig);
    this.kubeconfig = pulumi.secret(pulumi.output(args.kubeconfig));
    const cluster = this.kubeconfig.apply(checkedCluster);
    this.apiServerUrl = pulumi.unsecret(cluster.apply((entry) => entry.server));
    this.clusterCaCertificate = pulumi.unsecret(cluster.apply((entry) => entry.caCertificate));

    // Never an empty kubeconfig: pulumi-kubernetes would fall back to the ambient one (see KosmosCluster).
    this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig, enableServerSideApply: true }, { parent: this });

    this.registerOutputs({
      apiServerUrl: this.apiServerUrl,
      kubeconfig: this.kubeconfig,
      ingressNodeLabel: this.ingressNodeLabel,
      ingressNodeTaint: this.ingressNodeTaint,
    });
  }
}

function checkedCluster(kubeconfig: string): KubeconfigCluster {
  try {
    return kubeconfigCluster(kubeconfig);
  } catch (error) {
    // The message names what is missing, never the kubeconfig's content.
    throw new pulumi.InputPropertyError({ propertyPath: "kubeconfig", reason: (error as Error).message });
  }
}
