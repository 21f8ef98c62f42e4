import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { cidrContainsAddress, cidrsOverlap, parseIpv4Cidr } from "../infra/network/cidr";
import { DECODER_PORT_NAME } from "./decoder-service";
import { appLabels, ingressNodeSelector, ingressToleration, type IngressPlacement } from "./kubernetes-placement";

/** CPU and memory of a container, as Kubernetes quantities. */
export interface ContainerResources {
  /** What the scheduler reserves. */
  requests: { cpu: string; memory: string };
  /** Hard caps; leaving the CPU limit out avoids throttling a latency-sensitive decoder. */
  limits: { cpu?: string; memory: string };
}

/** An IPv4 network the decoders may reach, e.g. a backend's private network. */
export interface DecoderEgressCidr {
  /** IPv4 CIDR without host bits. */
  cidr: string;
  /** Sub-ranges of `cidr` that stay closed. Default: none. */
  except?: string[];
}

/**
 * Pods the decoders may reach, by labels (the NetworkPolicy peer semantics): `namespaceSelector` alone selects every
 * pod of the matching namespaces, `podSelector` alone the matching pods of the decoder namespace, both together the
 * matching pods of the matching namespaces. At least one of the two.
 */
export interface DecoderEgressSelector {
  /** matchLabels of the namespaces, e.g. `{ "kubernetes.io/metadata.name": "backend" }`. */
  namespaceSelector?: Record<string, string>;
  /** matchLabels of the pods. */
  podSelector?: Record<string, string>;
}

export type DecoderEgressPeer = DecoderEgressCidr | DecoderEgressSelector;

/** A destination port; `endPort` makes it the range port..endPort. */
export interface DecoderEgressPort {
  protocol: "TCP" | "UDP" | "SCTP";
  port: number;
  /** Last port of a range (>= port). Default: a single port. */
  endPort?: number;
}

/** One egress allowance: any of `to` on any of `ports`. Both lists must be non-empty (no "all ports" rule). */
export interface DecoderEgressRule {
  to: DecoderEgressPeer[];
  ports: DecoderEgressPort[];
}

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
  /** UDP port the decoder listens on. */
  port: pulumi.Input<number>;
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
    const appName = args.name ?? "decoder";
    const labels = { ...appLabels(appName, "decoder"), ...args.selectorLabels };
    const healthPort = args.healthPort ?? 8080;
    const resources = args.resources ?? { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } };

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
                    { name: DECODER_PORT_NAME, containerPort: args.port, protocol: "UDP" },
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

    const egress = args.egress ?? [];
    const egressProblems = decoderEgressProblems(egress, args.deviceSubnets);
    if (egressProblems.length > 0) {
      throw new pulumi.InputPropertiesError({
        message: `invalid DecoderDeployment args:\n${egressProblems.map((p) => `  - ${p.propertyPath}: ${p.reason}`).join("\n")}`,
        errors: egressProblems,
      });
    }

    const deviceBlocks = args.deviceSubnets.map((cidr) => ({ ipBlock: { cidr } }));
    const downlinkPorts = args.downlinkPorts ?? [];
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: appName, namespace: args.namespace, labels },
        spec: {
          podSelector: { matchLabels: args.selectorLabels },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: deviceBlocks, ports: [{ protocol: "UDP", port: args.port }] }],
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
            ...egress.map(renderEgressRule),
          ],
        },
      },
      { parent: this },
    );

    this.deploymentName = deployment.metadata.name;
    this.registerOutputs({ deploymentName: this.deploymentName });
  }
}

function isCidrPeer(peer: DecoderEgressPeer): peer is DecoderEgressCidr {
  return "cidr" in peer;
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

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

function cidrProblem(propertyPath: string, cidr: string): pulumi.InputPropertyErrorDetails | undefined {
  try {
    parseIpv4Cidr(cidr);
    return undefined;
  } catch (error) {
    return { propertyPath, reason: (error as Error).message };
  }
}

/** `inner` lies entirely inside `outer`. */
function cidrContains(outer: string, inner: string): boolean {
  const innerNetwork = parseIpv4Cidr(inner);
  return cidrContainsAddress(outer, innerNetwork.address) && parseIpv4Cidr(outer).prefixLength <= innerNetwork.prefixLength;
}

/**
 * Why the egress rules are unsafe or would be rejected by the API server (empty lists mean "everything" in a
 * NetworkPolicy, which is never what a missing value should mean here). Device subnets only known at deploy time
 * (Outputs) cannot be checked for overlap.
 */
export function decoderEgressProblems(
  rules: readonly DecoderEgressRule[],
  deviceSubnets: readonly pulumi.Input<string>[] = [],
): pulumi.InputPropertyErrorDetails[] {
  const devices = deviceSubnets.filter((subnet): subnet is string => typeof subnet === "string");
  const problems: (pulumi.InputPropertyErrorDetails | undefined)[] = [];
  const problem = (propertyPath: string, reason: string): void => {
    problems.push({ propertyPath, reason });
  };
  rules.forEach((rule, r) => {
    const at = `egress[${r}]`;
    if (rule.to.length === 0) problem(`${at}.to`, "must name at least one destination (an empty list allows every destination)");
    if (rule.ports.length === 0) problem(`${at}.ports`, "must name at least one port (an empty list allows every port)");
    rule.to.forEach((peer, p) => {
      const peerAt = `${at}.to[${p}]`;
      if (!isCidrPeer(peer)) {
        const selectors = [peer.namespaceSelector, peer.podSelector].filter((selector) => selector !== undefined);
        if (selectors.length === 0 || selectors.some((selector) => Object.keys(selector).length === 0)) {
          problem(peerAt, "needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)");
        }
        return;
      }
      const invalid = cidrProblem(`${peerAt}.cidr`, peer.cidr);
      const except = peer.except ?? [];
      const exceptProblems = except.map((e, i) => cidrProblem(`${peerAt}.except[${i}]`, e));
      problems.push(invalid, ...exceptProblems);
      if (invalid !== undefined || exceptProblems.some((entry) => entry !== undefined)) return;
      except.forEach((e, i) => {
        if (!cidrContains(peer.cidr, e)) problem(`${peerAt}.except[${i}]`, `${e} is not inside ${peer.cidr}`);
      });
      for (const device of devices) {
        if (cidrProblem("", device) !== undefined || !cidrsOverlap(peer.cidr, device)) continue;
        if (!except.some((e) => cidrContains(e, device))) {
          problem(
            `${peerAt}.cidr`,
            `${peer.cidr} overlaps the device subnet ${device}; traffic to devices is limited to downlinkPorts (add it to except)`,
          );
        }
      }
    });
    rule.ports.forEach((port, i) => {
      const portAt = `${at}.ports[${i}]`;
      if (!["TCP", "UDP", "SCTP"].includes(port.protocol)) problem(`${portAt}.protocol`, `must be TCP, UDP or SCTP, got ${String(port.protocol)}`);
      if (!isPort(port.port)) problem(`${portAt}.port`, `must be a port in 1-65535, got ${String(port.port)}`);
      if (port.endPort !== undefined && (!isPort(port.endPort) || port.endPort < port.port)) {
        problem(`${portAt}.endPort`, `must be a port in ${port.port}-65535, got ${String(port.endPort)}`);
      }
    });
  });
  return problems.filter((entry): entry is pulumi.InputPropertyErrorDetails => entry !== undefined);
}
