import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DECODER_DEFAULTS, isCidrPeer, resolveDecoderPlan, type DecoderEgressRule } from "../infra/decoder";
import { DECODER_PORT_NAME } from "./decoder-service";
import { resolvedArgs } from "./input-errors";
import { appLabels, ingressNodeSelector, ingressToleration, type IngressPlacement } from "./kubernetes-placement";

/** CPU and memory of a container, as Kubernetes quantities. */
export interface ContainerResources {
  /** What the scheduler reserves. */
  requests: { cpu: string; memory: string };
  /** Hard caps; leaving the CPU limit out avoids throttling a latency-sensitive decoder. */
  limits: { cpu?: string; memory: string };
}

export type { DecoderEgressCidr, DecoderEgressPeer, DecoderEgressPort, DecoderEgressRule, DecoderEgressSelector } from "../infra/decoder";

export interface DecoderDeploymentArgs {
  /** Name of the decoder app (Deployment, PDB, NetworkPolicy). Default: `decoder`. */
  name?: string;
  /** Namespace of the decoders, usually `DecoderService.namespace`. */
  namespace: pulumi.Input<string>;
  /** Labels that select the pods, from `DecoderService.selectorLabels`. */
  selectorLabels: Record<string, string>;
  /** Image pinned to an exact tag or digest. */
  image: pulumi.Input<string>;
  /** Replicas; at least the number of ingress nodes so that every ingress node has a local decoder. */
  replicas: pulumi.Input<number>;
  /** UDP port the decoder listens on; the DecoderService's. Default: `5683`. */
  port?: pulumi.Input<number>;
  /** Port of the decoder's HTTP health endpoints (`/healthz` for liveness, `/ready` for readiness). Default: `8080`. */
  healthPort?: pulumi.Input<number>;
  /** Environment variables. Default: none. */
  env?: Record<string, pulumi.Input<string>>;
  /** Container resources. Default: 250m CPU / 128Mi requested, 256Mi memory limit. */
  resources?: ContainerResources;
  /** The ingress pool the decoders must run on (Envoy only forwards to decoders on its own node). */
  placement: IngressPlacement;
  /** Device subnets: the only sources of decoder traffic, and the only downlink destinations. */
  deviceSubnets: pulumi.Input<string>[];
  /** UDP ports on the devices that downlinks go to. Default: none (no downlinks allowed). */
  downlinkPorts?: pulumi.Input<number>[];
  /**
   * Where else the decoders may connect, e.g. the backend they deliver decoded data to (TCP 443 or 5432 to its
   * CIDR). Default: none (only downlinks and DNS). A CIDR may not reach into a device subnet unless `except`
   * carves that subnet out: traffic to devices is limited to `downlinkPorts`.
   */
  egress?: DecoderEgressRule[];
  /**
   * Names of `kubernetes.io/dockerconfigjson` Secrets in the decoder namespace that the kubelet uses to pull the
   * image (the pod's `imagePullSecrets`), e.g. `RegistryPullSecret.secretName` for a private Scaleway registry.
   * Default: none (a public image).
   */
  imagePullSecrets?: pulumi.Input<string>[];
}

/** A non-root user id; the decoder image must not need root. */
const DECODER_UID = 10001;

/**
 * The decoder pods: spread one per ingress node first, locked down, with a PodDisruptionBudget and a NetworkPolicy
 * that only admits device traffic and only lets downlinks, and DNS, out.
 */
export class DecoderDeployment extends pulumi.ComponentResource {
  /** Name of the Deployment. */
  public readonly deploymentName: pulumi.Output<string>;

  constructor(name: string, args: DecoderDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:DecoderDeployment", name, {}, opts);
    // Only device subnets known now can be checked against the egress rules (see DecoderPlanInput.deviceSubnets).
    const knownDeviceSubnets = args.deviceSubnets.filter((subnet): subnet is string => typeof subnet === "string");
    const plan = resolvedArgs("DecoderDeployment", () => resolveDecoderPlan({ egress: args.egress, deviceSubnets: knownDeviceSubnets }));
    const appName = args.name ?? DECODER_DEFAULTS.name;
    const labels = { ...appLabels(appName, "decoder"), ...args.selectorLabels };
    const port = args.port ?? DECODER_DEFAULTS.port;
    const healthPort = args.healthPort ?? DECODER_DEFAULTS.healthPort;
    const resources = args.resources ?? DECODER_DEFAULTS.resources;

    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: appName, namespace: args.namespace, labels },
        spec: {
          replicas: args.replicas,
          selector: { matchLabels: args.selectorLabels },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: ingressNodeSelector(args.placement),
              tolerations: [ingressToleration(args.placement)],
              // Every ingress node needs a ready local decoder before the gateway sends it devices.
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: "kubernetes.io/hostname",
                  whenUnsatisfiable: "DoNotSchedule",
                  labelSelector: { matchLabels: args.selectorLabels },
                  // A cordoned node gets the node.kubernetes.io/unschedulable:NoSchedule taint (node lifecycle
                  // controller, pkg/controller/nodelifecycle). With the default nodeTaintsPolicy (nil = Ignore,
                  // kubernetes pkg/scheduler/framework/plugins/podtopologyspread/common.go) that drained node still
                  // counts as a domain with 0 decoders, so the evicted decoder fits nowhere (skew 2 everywhere
                  // else), stays Pending, and the PDB then blocks the next eviction: upgrades and autoheal stall.
                  // Honor skips nodes with an untolerated NoSchedule/NoExecute taint (matchNodeInclusionPolicies).
                  nodeTaintsPolicy: "Honor",
                  // Spread each ReplicaSet on its own: the pod's pod-template-hash value is ANDed into the selector
                  // (filterTopologySpreadConstraints), so old pods leaving mid-rollout do not skew the new ones.
                  matchLabelKeys: ["pod-template-hash"],
                },
              ],
              automountServiceAccountToken: false,
              ...((args.imagePullSecrets ?? []).length > 0
                ? { imagePullSecrets: (args.imagePullSecrets ?? []).map((secretName) => ({ name: secretName })) }
                : {}),
              securityContext: {
                runAsNonRoot: true,
                runAsUser: DECODER_UID,
                runAsGroup: DECODER_UID,
                fsGroup: DECODER_UID,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "decoder",
                  image: args.image,
                  ports: [
                    { name: DECODER_PORT_NAME, containerPort: port, protocol: "UDP" },
                    { name: "health", containerPort: healthPort, protocol: "TCP" },
                  ],
                  env: Object.entries(args.env ?? {}).map(([envName, value]) => ({ name: envName, value })),
                  resources,
                  readinessProbe: { httpGet: { path: "/ready", port: "health" }, periodSeconds: 5, failureThreshold: 2 },
                  livenessProbe: { httpGet: { path: "/healthz", port: "health" }, periodSeconds: 10, failureThreshold: 3 },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    privileged: false,
                    capabilities: { drop: ["ALL"] },
                  },
                  volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
              ],
              volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
            },
          },
        },
      },
      { parent: this },
    );

    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: appName, namespace: args.namespace, labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: args.selectorLabels } },
      },
      { parent: this },
    );

    const deviceBlocks = args.deviceSubnets.map((cidr) => ({ ipBlock: { cidr } }));
    const downlinkPorts = args.downlinkPorts ?? [];
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: appName, namespace: args.namespace, labels },
        spec: {
          podSelector: { matchLabels: args.selectorLabels },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: deviceBlocks, ports: [{ protocol: "UDP", port }] }],
          egress: [
            ...(downlinkPorts.length > 0
              ? [{ to: deviceBlocks, ports: downlinkPorts.map((port) => ({ protocol: "UDP", port })) }]
              : []),
            {
              to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
              ports: [
                { protocol: "UDP", port: 53 },
                { protocol: "TCP", port: 53 },
              ],
            },
            ...plan.egress.map(renderEgressRule),
          ],
        },
      },
      { parent: this },
    );

    this.deploymentName = deployment.metadata.name;
    this.registerOutputs({ deploymentName: this.deploymentName });
  }
}

/** One NetworkPolicy egress rule per configured rule, in order. */
function renderEgressRule(rule: DecoderEgressRule) {
  return {
    to: rule.to.map((peer) =>
      isCidrPeer(peer)
        ? { ipBlock: { cidr: peer.cidr, ...(peer.except && peer.except.length > 0 ? { except: peer.except } : {}) } }
        : {
            ...(peer.namespaceSelector ? { namespaceSelector: { matchLabels: peer.namespaceSelector } } : {}),
            ...(peer.podSelector ? { podSelector: { matchLabels: peer.podSelector } } : {}),
          },
    ),
    ports: rule.ports.map((port) => ({ protocol: port.protocol, port: port.port, ...(port.endPort !== undefined ? { endPort: port.endPort } : {}) })),
  };
}
