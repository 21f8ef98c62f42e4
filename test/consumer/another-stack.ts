// A program of another team, written against the published package: it adds its own pool-less cluster and
// deploys into this project's cluster through a StackReference to its kubeconfig.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KosmosCluster } from "iot-udp-ingress";

const ingressStack = new pulumi.StackReference("acme/iot-udp-ingress/prod");
const provider = new k8s.Provider("iot-cluster", { kubeconfig: ingressStack.requireOutput("kubeconfig") });

export const namespace = new k8s.core.v1.Namespace("analytics", { metadata: { name: "analytics" } }, { provider });

export const lab = new KosmosCluster("lab", {
  clusterName: "iot-lab",
  kubernetesVersion: "1.34",
  ingressPool: { nodeType: "PLAY2-MICRO", size: 1 },
});
