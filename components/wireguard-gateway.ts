import { createHash } from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as scaleway from "@pulumiverse/scaleway";
import {
  concentratorGatewayPeers,
  NODE_EXPORTER_METRICS_PATH,
  renderGatewayCloudInit,
  resolveGatewayOptions,
  type ConcentratorGatewayPeer,
  type ConcentratorOptions,
  type GatewayHostOptions,
} from "../infra/gateway";
import { renderTokenKubeconfig } from "../infra/kubernetes";
import { isIpv4Address } from "../infra/network";
import { generateKeyPair, keyPairFromRandomBase64 } from "../infra/wireguard";
import { prometheusScrapeAnnotations } from "./envoy-udp-ingress";
import { appLabels, selectorLabels, type NodeLabel } from "./kubernetes-placement";

/** A binary the gateway downloads at boot and checks against a pinned sha256 sum. */
export interface PinnedDownloadArgs {
  /** Exact version. */
  version: string;
  /** sha256 of the linux/amd64 binary at that version. */
  sha256: string;
}

/** A VPN concentrator on the device side of the gateway. */
export interface ConcentratorArgs {
  /** Short name. */
  name: string;
  /** Its WireGuard public key (base64). */
  publicKey: string;
  /** `host:port` the gateway dials; omit when only the concentrator initiates. */
  endpoint?: string;
  /** Public addresses its WireGuard packets come from; the uplink port is open to these only. */
  sourceCidrs: string[];
  /** Device subnets behind it. Default: all device subnets (only with a single concentrator). */
  deviceSubnets?: string[];
}

/** Where the gateway finds the Envoy pods and decoder endpoints it steers devices to. */
export interface SteeringArgs {
  /** The ingress pool's node label. */
  ingressNodeLabel: NodeLabel;
  /** Namespace of the Envoy DaemonSet. */
  envoyNamespace: string;
  /** Label selector of the Envoy pods, e.g. `app.kubernetes.io/name=envoy-udp-ingress`. */
  envoyPodSelector: string;
  /** Namespace of the headless decoder Service. */
  decoderNamespace: string;
  /** Name of the headless decoder Service. */
  decoderServiceName: string;
}

/** See `WireguardGatewayArgs.rotation`. */
export interface GatewayRotationArgs {
  kiloKey?: string;
  uplinkKey?: string;
  token?: string;
}

/** A machine outside the stack that runs the gateway (see `WireguardGatewayArgs.externalHost`). */
export interface ExternalGatewayHostArgs {
  /** The public IPv4 address the Kilo nodes and the concentrators reach it at (the Kilo Peer's endpoint). */
  publicIp: string;
}

/** How an in-cluster Prometheus is told about the gateway's node exporter. */
export const GATEWAY_METRICS_SCRAPE_MODES = ["annotations", "serviceMonitor"] as const;
export type GatewayMetricsScrapeMode = (typeof GATEWAY_METRICS_SCRAPE_MODES)[number];

/** See `WireguardGatewayArgs.metrics`. */
export interface GatewayMetricsArgs {
  /**
   * `annotations` (default): `prometheus.io/scrape`, `/port`, `/path` on the metrics Service, for a Prometheus with the
   * usual kubernetes-service-endpoints scrape job. `serviceMonitor`: a `monitoring.coreos.com/v1` ServiceMonitor next
   * to it, for the Prometheus Operator (its CRDs must exist, or the deployment fails on that resource). Either way the
   * Prometheus must discover targets from EndpointSlices (Prometheus `role: endpointslice`; the Operator's
   * `serviceDiscoveryRole: EndpointSlice`): the Service has no selector, so no v1 Endpoints object exists for it.
   */
  scrape?: GatewayMetricsScrapeMode;
}

/**
 * The `endpointslice.kubernetes.io/managed-by` value of the gateway's EndpointSlice: not the EndpointSlice controller's
 * own (`endpointslice-controller.k8s.io`), so that no controller takes it over or deletes it: the controller makes no
 * slices for a Service without a selector and only lists slices with its own manager label (k8s.io/kubernetes v1.37.2
 * pkg/controller/endpointslice/endpointslice_controller.go, syncService). No v1 Endpoints object exists, so the
 * mirroring controller has nothing to mirror either.
 */
export const GATEWAY_ENDPOINTSLICE_MANAGER = "iot-udp-ingress.pulumi";
/** Name of the metrics port on the gateway's Service and EndpointSlice, as the ServiceMonitor refers to it. */
export const GATEWAY_METRICS_PORT_NAME = "metrics";

/** The gateway VM's settings when none are given. */
export const GATEWAY_VM_DEFAULTS = { zone: "fr-par-1", instanceType: "PRO2-XXS", image: "debian_bookworm" } as const;

export interface WireguardGatewayArgs {
  /** Scaleway zone of the VM and its flexible IP. Default: `fr-par-1`. VM only. */
  zone?: string;
  /** Instance type. Default: `PRO2-XXS`. VM only. */
  instanceType?: string;
  /** Image label. Default: `debian_bookworm`. VM only. */
  image?: string;
  /**
   * Run the gateway on a machine of your own instead of a Scaleway VM: no VM, flexible IP or security group is
   * created, the machine boots with `cloudInit` (a secret output), and its firewall must let in what the security
   * group would (see `gatewayInboundRules`). Default: none, the stack creates the VM.
   */
  externalHost?: ExternalGatewayHostArgs;
  /** The gateway's address in the Kilo mesh (the Peer's /32), outside Kilo's 10.4.0.0/16. */
  tunnelAddress: string;
  /** WireGuard port of the Kilo mesh. Default: `51820`. */
  kiloListenPort?: number;
  /** Keepalive the nodes should use toward the gateway, in seconds. Default: `25`. */
  persistentKeepaliveSeconds?: number;
  /** Device subnets; they become part of the Peer's allowedIPs so every node routes them back to the gateway. */
  deviceSubnets: string[];
  /** The cluster's pod CIDR (decoder replies come from pod IPs). */
  podCidr: string;
  /** Networks allowed to SSH to the gateway. Default: none, SSH closed. */
  adminCidrs?: string[];
  /** The device uplink toward the VPN concentrators. */
  uplink: {
    /** The gateway's address on the uplink. */
    address: string;
    /** WireGuard listen port of the uplink. Default: `51821`. */
    listenPort?: number;
    /** At least one concentrator. */
    concentrators: ConcentratorArgs[];
  };
  /** Where devices send: the address (owned by the gateway) and UDP port. */
  ingress: { address: string; port: number };
  /** Rewrite the source of cluster -> device packets to the ingress address and port. Default: `false`. */
  downlinkSourceRewrite?: boolean;
  /** Device UDP ports decoders send downlinks to; the gateway forwards no other pod -> device traffic. Default: none. */
  downlinkPorts?: number[];
  /**
   * Generation labels of the gateway's long-lived secrets. Changing one and running `pulumi up` replaces that secret:
   * `kiloKey` the Kilo WireGuard key (the Peer's publicKey follows), `uplinkKey` the uplink key (the concentrators must
   * then configure the new `uplinkPublicKey`), `token` the ServiceAccount token Secret (the old token is revoked when
   * its Secret is deleted). Each change also changes the cloud-init, so the VM is replaced. Opaque strings (e.g. a
   * date); lowercase letters, digits and dashes, at most 20 characters. Default: none.
   */
  rotation?: GatewayRotationArgs;
  /** Fleet size and report interval; they size connection tracking. */
  devices: { expectedCount: number; reportIntervalSeconds: number };
  /** What the steering agent watches. */
  steering: SteeringArgs;
  /** Pinned kgctl and kubectl downloads. */
  tools: { kgctl: PinnedDownloadArgs; kubectl: PinnedDownloadArgs };
  /** The cluster's API URL and CA (base64 PEM), for the gateway's own kubeconfig. */
  cluster: { apiServerUrl: pulumi.Input<string>; caCertificate: pulumi.Input<string> };
  /** Namespace of the gateway's ServiceAccount and its token, and of its metrics Service. */
  identityNamespace: string;
  /** How Prometheus finds the gateway's node exporter (a Service and EndpointSlice at the tunnel address). Default: `{ scrape: "annotations" }`. */
  metrics?: GatewayMetricsArgs;
  /** Protect the flexible IP (devices and concentrators are configured with it). Default: `false`. VM only. */
  protectPublicIp?: boolean;
  /** Tags on the Scaleway resources. Default: none. */
  tags?: string[];
}

const DEFAULTS = { kiloListenPort: 51820, uplinkPort: 51821, keepalive: 25 };

/** The ServiceAccount token Secret type; Kubernetes fills `data.token` for it. */
const SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token";

/**
 * The WireGuard gateway VM: a Kilo Peer whose allowedIPs include the device subnets, so every node routes device
 * traffic back to it, and the steering point that sends each device to one ingress node with its source unchanged.
 */
export class WireguardGateway extends pulumi.ComponentResource {
  /** The flexible IP (or the external host's address) the Kilo nodes and the concentrators reach the gateway at. */
  public readonly publicIp: pulumi.Output<string>;
  /** WireGuard public key of the gateway in the Kilo mesh (the Peer's publicKey). */
  public readonly kiloPublicKey: pulumi.Output<string>;
  /** WireGuard public key of the uplink; the concentrators need it. */
  public readonly uplinkPublicKey: pulumi.Output<string>;
  /** The gateway's tunnel address in the Kilo mesh. */
  public readonly tunnelAddress: pulumi.Output<string>;
  /** Name of the Kilo Peer. */
  public readonly peerName: pulumi.Output<string>;
  /** Kubeconfig of the gateway's ServiceAccount (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  /** The cloud-init the VM boots with (secret: it carries keys and the kubeconfig). */
  public readonly cloudInit: pulumi.Output<string>;
  /**
   * What each concentrator must configure toward the gateway: the AllowedIPs of its WireGuard peer for the gateway,
   * for either setting of `downlinkSourceRewrite` and for the current one.
   */
  public readonly concentratorPeers: pulumi.Output<ConcentratorGatewayPeer[]>;
  /** Name of the selector-less Service whose EndpointSlice points at the gateway's node exporter. */
  public readonly metricsServiceName: pulumi.Output<string>;
  /** TCP port of the gateway's node exporter (the one the nftables input rule opens on the Kilo interface). */
  public readonly metricsPort: number;
  /** The steering agent's timer period, seconds (the alerts' "3 intervals" are counted in it). */
  public readonly steeringIntervalSeconds: number;
  /** The WireGuard interface of the device uplink, as the gateway's metrics label it. */
  public readonly uplinkInterface: string;

  constructor(name: string, args: WireguardGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:WireguardGateway", name, {}, opts);
    const kiloListenPort = args.kiloListenPort ?? DEFAULTS.kiloListenPort;
    const uplinkPort = args.uplink.listenPort ?? DEFAULTS.uplinkPort;
    const keepalive = args.persistentKeepaliveSeconds ?? DEFAULTS.keepalive;
    const peerName = name;
    const resolved = checkGatewayArgs(args, { peerName, kiloListenPort, uplinkPort });
    const rotation = checkRotation(args.rotation ?? {});
    checkHost(args);
    const scrape = checkMetricsScrape(args.metrics?.scrape ?? "annotations");

    const kiloKeys = this.keyPair(`${name}-kilo-key`, rotation.kiloKey);
    const uplinkKeys = this.keyPair(`${name}-uplink-key`, rotation.uplinkKey);

    const identity = this.kubernetesIdentity(name, args, rotation.token);
    const kubeconfig = pulumi.secret(
      pulumi
        .all([args.cluster.apiServerUrl, args.cluster.caCertificate, identity.token])
        .apply(([server, caCertificate, token]) =>
          renderTokenKubeconfig({ clusterName: name, server, caCertificate, token, user: `${name}-gateway` }),
        ),
    );

    const cloudInit = pulumi.secret(
      pulumi
        .all([kiloKeys.privateKey, uplinkKeys.privateKey, kubeconfig])
        .apply(([kiloPrivateKey, uplinkPrivateKey, gatewayKubeconfig]) =>
          renderGatewayCloudInit(
            gatewayHostOptions(args, { peerName, kiloPrivateKey, uplinkPrivateKey, kubeconfig: gatewayKubeconfig, kiloListenPort, uplinkPort }),
          ),
        ),
    );

    const publicIp = args.externalHost
      ? pulumi.output(args.externalHost.publicIp)
      : this.virtualMachine(name, args, { kiloListenPort, uplinkPort, cloudInit });

    const peer = new k8s.apiextensions.CustomResource(
      `${name}-peer`,
      {
        apiVersion: "kilo.squat.ai/v1alpha1",
        kind: "Peer",
        metadata: { name: peerName, labels: appLabels("wireguard-gateway", "gateway") },
        spec: {
          allowedIPs: [`${args.tunnelAddress}/32`, ...args.deviceSubnets],
          publicKey: kiloKeys.publicKey,
          persistentKeepalive: keepalive,
          endpoint: { dnsOrIP: { ip: publicIp }, port: kiloListenPort },
        },
      },
      { parent: this },
    );

    const metricsService = this.metricsEndpoint(name, args, resolved.metrics.nodeExporterPort, scrape);

    this.publicIp = publicIp;
    this.metricsServiceName = metricsService;
    this.metricsPort = resolved.metrics.nodeExporterPort;
    this.steeringIntervalSeconds = resolved.steering.intervalSeconds;
    this.uplinkInterface = resolved.uplink.interfaceName;
    this.kiloPublicKey = kiloKeys.publicKey;
    this.uplinkPublicKey = uplinkKeys.publicKey;
    this.tunnelAddress = pulumi.output(args.tunnelAddress);
    this.peerName = peer.metadata.name;
    this.kubeconfig = kubeconfig;
    this.cloudInit = cloudInit;
    this.concentratorPeers = pulumi.output(concentratorGatewayPeers(resolved));
    this.registerOutputs({
      publicIp: this.publicIp,
      kiloPublicKey: this.kiloPublicKey,
      uplinkPublicKey: this.uplinkPublicKey,
      tunnelAddress: this.tunnelAddress,
      peerName: this.peerName,
      kubeconfig: this.kubeconfig,
      concentratorPeers: this.concentratorPeers,
      metricsServiceName: this.metricsServiceName,
    });
  }

  /**
   * The gateway's node exporter as an in-cluster scrape target: a Service without selector (nothing in the cluster
   * backs it) and an EndpointSlice of our own at the tunnel address, the one address the Kilo mesh routes to the
   * gateway and the only interface whose nftables input rule opens the port. Headless: Prometheus scrapes endpoints
   * directly, and a virtual IP would only add a kube-proxy DNAT to an address outside the pod network. Returns the
   * Service's name.
   */
  private metricsEndpoint(name: string, args: WireguardGatewayArgs, port: number, scrape: GatewayMetricsScrapeMode): pulumi.Output<string> {
    const labels = appLabels("wireguard-gateway", "metrics");
    const serviceName = `${name}-metrics`;
    const servicePort = { name: GATEWAY_METRICS_PORT_NAME, port, protocol: "TCP" };
    const service = new k8s.core.v1.Service(
      `${name}-metrics`,
      {
        metadata: {
          name: serviceName,
          namespace: args.identityNamespace,
          labels,
          annotations: scrape === "annotations" ? prometheusScrapeAnnotations(port, NODE_EXPORTER_METRICS_PATH) : {},
        },
        spec: { clusterIP: "None", ports: [{ ...servicePort, targetPort: port }] },
      },
      { parent: this },
    );
    new k8s.discovery.v1.EndpointSlice(
      `${name}-metrics`,
      {
        metadata: {
          name: `${serviceName}-tunnel`,
          namespace: args.identityNamespace,
          labels: { ...labels, "kubernetes.io/service-name": serviceName, "endpointslice.kubernetes.io/managed-by": GATEWAY_ENDPOINTSLICE_MANAGER },
        },
        addressType: "IPv4",
        // Always ready: nothing probes the gateway from here; a gateway that is down fails its scrape (`up == 0`)
        // and IotGatewayMetricsAbsent fires, which says more than a missing endpoint would.
        endpoints: [{ addresses: [args.tunnelAddress], conditions: { ready: true } }],
        ports: [servicePort],
      },
      { parent: this, dependsOn: [service] },
    );
    if (scrape === "serviceMonitor") {
      new k8s.apiextensions.CustomResource(
        `${name}-servicemonitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          metadata: { name: serviceName, namespace: args.identityNamespace, labels },
          spec: {
            selector: { matchLabels: selectorLabels("wireguard-gateway", "metrics") },
            endpoints: [{ port: GATEWAY_METRICS_PORT_NAME, path: NODE_EXPORTER_METRICS_PATH, interval: "30s" }],
          },
        },
        { parent: this, dependsOn: [service] },
      );
    }
    return service.metadata.name;
  }

  /** The Scaleway VM, its flexible IP and security group; returns the IP's address. */
  private virtualMachine(
    name: string,
    args: WireguardGatewayArgs,
    host: { kiloListenPort: number; uplinkPort: number; cloudInit: pulumi.Output<string> },
  ): pulumi.Output<string> {
    const zone = args.zone ?? GATEWAY_VM_DEFAULTS.zone;
    const ip = new scaleway.instance.Ip(
      `${name}-ip`,
      { type: "routed_ipv4", zone, tags: args.tags },
      { parent: this, protect: args.protectPublicIp ?? false },
    );

    const securityGroup = new scaleway.instance.SecurityGroup(
      `${name}-sg`,
      {
        zone,
        description: "iot-udp-ingress gateway: Kilo mesh, device uplink from the concentrators, SSH from admins",
        inboundDefaultPolicy: "drop",
        outboundDefaultPolicy: "accept",
        stateful: true,
        inboundRules: gatewayInboundRules(args, host.kiloListenPort, host.uplinkPort),
        tags: args.tags,
      },
      { parent: this },
    );

    new scaleway.instance.Server(
      `${name}-vm`,
      {
        zone,
        type: args.instanceType ?? GATEWAY_VM_DEFAULTS.instanceType,
        image: args.image ?? GATEWAY_VM_DEFAULTS.image,
        ipId: ip.id,
        securityGroupId: securityGroup.id,
        userData: { "cloud-init": host.cloudInit },
        tags: args.tags,
      },
      { parent: this, ...gatewayServerOptions(host.cloudInit) },
    );

    return ip.address;
  }

  /**
   * A WireGuard key pair whose private half never leaves Pulumi secrets; the public half is plain. A new rotation
   * label changes the RandomBytes' keepers, which replaces it (new random bytes, new key).
   */
  private keyPair(name: string, generation: string | undefined): { privateKey: pulumi.Output<string>; publicKey: pulumi.Output<string> } {
    const material = new random.RandomBytes(
      name,
      { length: 32, ...(generation === undefined ? {} : { keepers: { generation } }) },
      { parent: this },
    );
    const pair = material.base64.apply((base64) => keyPairFromRandomBase64(base64));
    return {
      privateKey: pulumi.secret(pair.apply((keys) => keys.privateKey)),
      publicKey: pulumi.unsecret(pair.apply((keys) => keys.publicKey)),
    };
  }

  /** ServiceAccount, least-privilege RBAC and a long-lived token for kgctl and the steering agent. */
  private kubernetesIdentity(name: string, args: WireguardGatewayArgs, generation: string | undefined): { token: pulumi.Output<string> } {
    const labels = appLabels("wireguard-gateway", "gateway");
    const accountName = `${name}-gateway`;
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      { metadata: { name: accountName, namespace: args.identityNamespace, labels } },
      { parent: this },
    );
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-clusterrole`,
      { metadata: { name: accountName, labels }, rules: gatewayClusterRules() },
      { parent: this },
    );
    const subject = { kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: args.identityNamespace };
    new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-clusterrolebinding`,
      {
        metadata: { name: accountName, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
        subjects: [subject],
      },
      { parent: this },
    );
    for (const [role, namespace, rules] of gatewayNamespacedRules(args.steering)) {
      const namespacedRole = new k8s.rbac.v1.Role(
        `${name}-role-${role}`,
        { metadata: { name: accountName, namespace, labels }, rules },
        { parent: this },
      );
      new k8s.rbac.v1.RoleBinding(
        `${name}-rolebinding-${role}`,
        {
          metadata: { name: accountName, namespace, labels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: namespacedRole.metadata.name },
          subjects: [subject],
        },
        { parent: this },
      );
    }
    const tokenSecret = new k8s.core.v1.Secret(
      `${name}-token`,
      {
        metadata: {
          // A new name makes Pulumi create a new token Secret and delete the old one, which revokes the old token.
          name: generation === undefined ? `${accountName}-token` : `${accountName}-token-${generation}`,
          namespace: args.identityNamespace,
          labels,
          annotations: { "kubernetes.io/service-account.name": serviceAccount.metadata.name },
        },
        type: SERVICE_ACCOUNT_TOKEN_TYPE,
      },
      { parent: this, additionalSecretOutputs: ["data"] },
    );
    // The token is there once the Secret is created: pulumi-kubernetes waits until the token controller has filled a
    // service-account-token Secret's data (provider/pkg/await/awaiters.go, untilCoreV1SecretInitialized).
    const token = tokenSecret.data.apply((data) => Buffer.from(data?.token ?? "", "base64").toString("utf8"));
    return { token: pulumi.secret(token) };
  }
}

/** Inbound rules of the gateway: everything else is dropped by the default policy. */
export function gatewayInboundRules(args: WireguardGatewayArgs, kiloListenPort: number, uplinkPort: number) {
  // Kosmos nodes reach the gateway from their own public addresses, which change with the nodes.
  const kiloMesh = [{ action: "accept", protocol: "UDP", port: kiloListenPort, ipRange: "0.0.0.0/0" }];
  const uplink = args.uplink.concentrators.flatMap((concentrator) =>
    concentrator.sourceCidrs.map((ipRange) => ({ action: "accept", protocol: "UDP", port: uplinkPort, ipRange })),
  );
  const ssh = (args.adminCidrs ?? []).map((ipRange) => ({ action: "accept", protocol: "TCP", port: 22, ipRange }));
  return [...kiloMesh, ...uplink, ...ssh];
}

/** Cluster-wide read access kgctl and the steering agent need, and nothing more. */
export function gatewayClusterRules() {
  return [
    { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] },
    { apiGroups: ["kilo.squat.ai"], resources: ["peers"], verbs: ["get", "list", "watch"] },
    {
      apiGroups: ["apiextensions.k8s.io"],
      resources: ["customresourcedefinitions"],
      resourceNames: ["peers.kilo.squat.ai"],
      verbs: ["get"],
    },
  ];
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Pods (Envoy readiness) in the ingress namespace, EndpointSlices (decoder readiness) in the decoder namespace. */
export function gatewayNamespacedRules(steering: SteeringArgs): Array<[role: string, namespace: string, rules: PolicyRule[]]> {
  const read = ["list", "watch"];
  const pods = { apiGroups: [""], resources: ["pods"], verbs: read };
  const slices = { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: read };
  if (steering.envoyNamespace === steering.decoderNamespace) {
    return [["steering", steering.envoyNamespace, [pods, slices]]];
  }
  return [
    ["envoy", steering.envoyNamespace, [pods]],
    ["decoder", steering.decoderNamespace, [slices]],
  ];
}

/**
 * Checks the arguments the way the cloud-init renderer will, before any resource exists: the renderer itself only
 * runs once the keys and the token are known, where an error would surface late and without context.
 */
function checkGatewayArgs(args: WireguardGatewayArgs, ports: { peerName: string; kiloListenPort: number; uplinkPort: number }) {
  const throwaway = generateKeyPair().privateKey;
  return resolveGatewayOptions(
    gatewayHostOptions(args, { ...ports, kiloPrivateKey: throwaway, uplinkPrivateKey: throwaway, kubeconfig: "apiVersion: v1\n" }),
  );
}

/** With `externalHost` the VM's settings have nothing to apply to; a value there would be a mistake that goes unseen. */
function checkHost(args: WireguardGatewayArgs): void {
  if (args.externalHost === undefined) return;
  if (!isIpv4Address(args.externalHost.publicIp)) {
    throw new pulumi.InputPropertyError({
      propertyPath: "externalHost.publicIp",
      reason: `${JSON.stringify(args.externalHost.publicIp)} is not an IPv4 address`,
    });
  }
  const vmOnly = { zone: args.zone, instanceType: args.instanceType, image: args.image, protectPublicIp: args.protectPublicIp };
  const errors = Object.entries(vmOnly)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => ({ propertyPath: key, reason: "only applies to the VM the component creates, not with externalHost" }));
  if (errors.length > 0) throw new pulumi.InputPropertiesError({ message: "WireguardGateway: VM settings given with externalHost", errors });
}

/** The scrape mode, or an InputPropertyError at `metrics.scrape`. */
export function checkMetricsScrape(scrape: string): GatewayMetricsScrapeMode {
  if (!(GATEWAY_METRICS_SCRAPE_MODES as readonly string[]).includes(scrape)) {
    throw new pulumi.InputPropertyError({
      propertyPath: "metrics.scrape",
      reason: `must be one of ${GATEWAY_METRICS_SCRAPE_MODES.join(", ")}, got ${JSON.stringify(scrape)}`,
    });
  }
  return scrape as GatewayMetricsScrapeMode;
}

/** A rotation label: it ends up in a Secret's name, so it must be a short DNS label fragment. */
export const ROTATION_LABEL = /^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/;
export const ROTATION_LABEL_RULE = "must be 1-20 lowercase letters, digits or dashes (not at the ends)";

/** Checks the rotation labels. */
export function checkRotation(rotation: GatewayRotationArgs): GatewayRotationArgs {
  for (const [key, value] of Object.entries(rotation)) {
    if (value !== undefined && (typeof value !== "string" || !ROTATION_LABEL.test(value))) {
      throw new pulumi.InputPropertyError({ propertyPath: `rotation.${key}`, reason: `${JSON.stringify(value)} ${ROTATION_LABEL_RULE}` });
    }
  }
  return rotation;
}

/**
 * Resource options of the gateway VM. cloud-init only runs on first boot, so a changed cloud-init needs a new VM (the
 * gateway keeps no state; the flexible IP attaches to one server at a time, hence delete first). The trigger is a
 * hash of OUR cloud-init only, never `userData` as a whole: the Scaleway provider reads every user-data key back into
 * `userData` (terraform-provider-scaleway internal/services/instance/server.go `ResourceInstanceServerRead`: `for
 * key, value := range allUserData.UserData`), and Scaleway's images add their own keys such as
 * `ssh-host-fingerprints` (provider issue 2800), which `replaceOnChanges: ["userData"]` would turn into a
 * replacement. The engine compares `replacementTrigger` with the value recorded at the last deployment.
 */
export function gatewayServerOptions(cloudInit: pulumi.Input<string>): pulumi.CustomResourceOptions {
  return {
    additionalSecretOutputs: ["userData", "cloudInit"],
    // The digest is plain on purpose: the engine keeps the trigger outside the masked inputs and outputs (a secret one
    // made `pulumi preview --json` panic in the CLI's display), and a sha256 of text holding 256-bit keys reveals nothing.
    replacementTrigger: pulumi.unsecret(pulumi.output(cloudInit).apply((text) => createHash("sha256").update(text).digest("hex"))),
    deleteBeforeReplace: true,
  };
}

interface GatewaySecrets {
  peerName: string;
  kiloPrivateKey: string;
  uplinkPrivateKey: string;
  kubeconfig: string;
  kiloListenPort: number;
  uplinkPort: number;
}

function gatewayHostOptions(args: WireguardGatewayArgs, secrets: GatewaySecrets): GatewayHostOptions {
  const concentrators: ConcentratorOptions[] = args.uplink.concentrators.map((concentrator) => ({
    name: concentrator.name,
    publicKey: concentrator.publicKey,
    endpoint: concentrator.endpoint,
    sourceCidrs: concentrator.sourceCidrs,
    deviceSubnets: concentrator.deviceSubnets,
  }));
  return {
    peerName: secrets.peerName,
    tunnelAddress: args.tunnelAddress,
    kiloPrivateKey: secrets.kiloPrivateKey,
    kubeconfig: secrets.kubeconfig,
    deviceSubnets: args.deviceSubnets,
    cluster: { podCidr: args.podCidr },
    kilo: { listenPort: secrets.kiloListenPort },
    uplink: { privateKey: secrets.uplinkPrivateKey, address: args.uplink.address, listenPort: secrets.uplinkPort, concentrators },
    ingress: { address: args.ingress.address, port: args.ingress.port },
    downlinkSourceRewrite: args.downlinkSourceRewrite ?? false,
    downlinkPorts: args.downlinkPorts ?? [],
    adminCidrs: args.adminCidrs ?? [],
    devices: args.devices,
    steering: {
      ingressNodeLabel: args.steering.ingressNodeLabel,
      envoyNamespace: args.steering.envoyNamespace,
      envoyPodSelector: args.steering.envoyPodSelector,
      decoderNamespace: args.steering.decoderNamespace,
      decoderServiceName: args.steering.decoderServiceName,
    },
    tools: { kgctl: args.tools.kgctl, kubectl: args.tools.kubectl },
  };
}
