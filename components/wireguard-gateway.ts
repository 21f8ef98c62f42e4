import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as scaleway from "@pulumiverse/scaleway";
import {
  concentratorGatewayPeers,
  leadershipRbacRules,
  NODE_EXPORTER_METRICS_PATH,
  renderGatewayCloudInit,
  resolveGatewayLeadership,
  resolveGatewayPlan,
  type ConcentratorGatewayPeer,
  type ConcentratorInput,
  type GatewayClusterRanges,
  type GatewayPlan,
  type GatewayLeadershipOptions,
  type GatewayPlanInput,
  type GatewaySecrets,
  type PinnedDownload,
} from "../infra/gateway";
import { renderTokenKubeconfig } from "../infra/kubernetes";
import { isIpv4Address } from "../infra/network";
import { PlanError, type Problem } from "../infra/problems";
import { keyPairFromRandomBase64 } from "../infra/wireguard";
import { prometheusScrapeAnnotations } from "./envoy-udp-ingress";
import { createGatewayPair, gatewayPairLease, gatewayServerOptions, type GatewayPairLease } from "./gateway-servers";
import { inputPropertiesError } from "./input-errors";
import { appLabels, selectorLabels } from "./kubernetes-placement";

export { gatewayServerOptions } from "./gateway-servers";

/** A binary the gateway downloads at boot and checks against a pinned sha256 sum (see `PinnedDownload`). */
export type PinnedDownloadArgs = PinnedDownload;
/** A VPN concentrator on the device side of the gateway (see `ConcentratorInput`). */
export type ConcentratorArgs = ConcentratorInput;
/** Where the gateway finds the Envoy pods and decoder endpoints it steers devices to, and how often it looks. */
export type SteeringArgs = GatewayPlanInput["steering"];

/** The cluster the gateway joins: its ranges (checked against the device subnets) and its API, for the gateway's kubeconfig. */
export interface GatewayClusterArgs extends GatewayClusterRanges {
  /** The cluster's API URL. */
  apiServerUrl: pulumi.Input<string>;
  /** The cluster's CA certificate (base64 PEM). */
  caCertificate: pulumi.Input<string>;
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

/**
 * The gateway's plan (`GatewayPlanInput` in infra/gateway/plan.ts: addresses, ports, uplink, steering, tools, with
 * their defaults in `GATEWAY_DEFAULTS`) and the resources that carry it. The Kilo Peer is named after the component.
 */
export interface WireguardGatewayArgs extends Omit<GatewayPlanInput, "peerName" | "cluster"> {
  /** Scaleway zone of the VM (both VMs of a pair) and its flexible IP. Default: `fr-par-1`. VM only. */
  zone?: string;
  /** Instance type. Default: `PRO2-XXS`. VM only. */
  instanceType?: string;
  /** Image label. Default: `debian_bookworm`. VM only. */
  image?: string;
  /**
   * Run the gateway on a machine of your own instead of a Scaleway VM: no VM, flexible IP or security group is
   * created, the machine boots with `cloudInit` (a secret output), and its firewall must let in what the security
   * group would (the `inboundRules` output). Default: none, the stack creates the VM.
   */
  externalHost?: ExternalGatewayHostArgs;
  /**
   * Run an active/standby pair of VMs instead of one, in the same zone (a flexible IP moves between servers of its
   * zone only) on different hypervisors (a placement group, max_availability, enforced). Both boot from the same plan
   * with the same secrets (the WireGuard keys, the ServiceAccount's token) and the same address: the flexible IP,
   * which belongs to neither server. The holder of a Lease (`leaseName`, in `identityNamespace`) is the active: its
   * leadership agent routes the flexible IP to itself through the Instance API, with the key of an IAM application
   * allowed from the two servers' own addresses only, and brings the uplink and the Kilo interface up; the standby
   * keeps them down. The standby takes over a lease duration (15 s) after the active last renewed, plus a step (2 s)
   * and the IP move. Each server has a routed IP of its own (`serverPublicIps`), the only sources the IAM policy
   * accepts the key from. Default: `false`. VM only; not with `externalHost`.
   */
  highAvailability?: boolean;
  /**
   * Generation labels of the gateway's long-lived secrets. Changing one and running `pulumi up` replaces that secret:
   * `kiloKey` the Kilo WireGuard key (the Peer's publicKey follows), `uplinkKey` the uplink key (the concentrators must
   * then configure the new `uplinkPublicKey`), `token` the ServiceAccount token Secret (the old token is revoked when
   * its Secret is deleted). Each change also changes the cloud-init, so the VM is replaced. Opaque strings (e.g. a
   * date); lowercase letters, digits and dashes, at most 20 characters. Default: none.
   */
  rotation?: GatewayRotationArgs;
  /** The cluster's ranges and API. */
  cluster: GatewayClusterArgs;
  /** Namespace of the gateway's ServiceAccount and its token, and of its metrics Service. */
  identityNamespace: string;
  /** How Prometheus finds the gateway's node exporter (a Service and EndpointSlice at the tunnel address). Default: `{ scrape: "annotations" }`. */
  metrics?: GatewayMetricsArgs;
  /** Protect the flexible IP, a pair's shared one (devices and concentrators are configured with it). Default: `false`. VM only. */
  protectPublicIp?: boolean;
  /** Tags on the Scaleway resources. Default: none. */
  tags?: string[];
}

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
  /** The address devices send to (`ingress.address`, default the uplink address). */
  public readonly ingressAddress: string;
  /**
   * What the gateway's firewall lets in (the security group's rules; with `externalHost`, what the machine's own
   * firewall must let in): the Kilo port from anywhere, the uplink port from the concentrators, SSH from the admins.
   */
  public readonly inboundRules: readonly GatewayInboundRule[];
  /** Name of the Kilo Peer. */
  public readonly peerName: pulumi.Output<string>;
  /** Kubeconfig of the gateway's ServiceAccount (secret). */
  public readonly kubeconfig: pulumi.Output<string>;
  /**
   * The cloud-init the VM boots with (secret: it carries keys and the kubeconfig); with `highAvailability`, the first
   * server's (`cloudInits` has both).
   */
  public readonly cloudInit: pulumi.Output<string>;
  /** Every server's cloud-init (secret), in the order of `serverIds`; with `externalHost`, the host's. */
  public readonly cloudInits: pulumi.Output<string[]>;
  /**
   * Scaleway IDs (`<zone>/<uuid>`) of the gateway's servers: the VM, or the pair's two in the order of
   * `leaseIdentities`. None with `externalHost`.
   */
  public readonly serverIds: pulumi.Output<string[]>;
  /** Each server's own public address, in the same order (the single VM's own address is the flexible IP). */
  public readonly serverPublicIps: pulumi.Output<string[]>;
  /** With `highAvailability`: the Lease that decides which server is active (its holder), and its namespace (`identityNamespace`). */
  public readonly leaseName?: string;
  public readonly leaseNamespace?: string;
  /** With `highAvailability`: each server's holderIdentity in the Lease (also its Scaleway name), in server order. */
  public readonly leaseIdentities: readonly string[];
  /** With `highAvailability`: the IAM application whose API key moves the flexible IP (its secret key is in the cloud-inits only). */
  public readonly pairApplicationId?: pulumi.Output<string>;
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
    const { plan, rotation, scrape, lease } = checkedArgs(name, args);

    const kiloKeys = this.keyPair(`${name}-kilo-key`, rotation.kiloKey);
    const uplinkKeys = this.keyPair(`${name}-uplink-key`, rotation.uplinkKey);

    const identity = this.kubernetesIdentity(name, args, plan, rotation.token, lease);
    const kubeconfig = pulumi.secret(
      pulumi
        .all([args.cluster.apiServerUrl, args.cluster.caCertificate, identity.token])
        .apply(([server, caCertificate, token]) =>
          renderTokenKubeconfig({ clusterName: name, server, caCertificate, token, user: `${name}-gateway` }),
        ),
    );

    const secrets: pulumi.Output<GatewaySecrets> = pulumi.secret(
      pulumi
        .all([kiloKeys.privateKey, uplinkKeys.privateKey, kubeconfig])
        .apply(([kiloPrivateKey, uplinkPrivateKey, gatewayKubeconfig]) => ({ kiloPrivateKey, uplinkPrivateKey, kubeconfig: gatewayKubeconfig })),
    );

    let publicIp: pulumi.Output<string>;
    let cloudInits: pulumi.Output<string[]>;
    let servers: { ids: pulumi.Output<string[]>; publicIps: pulumi.Output<string[]> };
    if (lease !== undefined) {
      const pair = createGatewayPair(this, {
        name,
        zone: args.zone ?? GATEWAY_VM_DEFAULTS.zone,
        instanceType: args.instanceType ?? GATEWAY_VM_DEFAULTS.instanceType,
        image: args.image ?? GATEWAY_VM_DEFAULTS.image,
        tags: args.tags,
        protectPublicIp: args.protectPublicIp ?? false,
        plan,
        lease,
        secrets,
        securityGroupId: this.securityGroup(name, args, plan).id,
      });
      publicIp = pair.publicIp;
      cloudInits = pair.cloudInits;
      servers = { ids: pair.serverIds, publicIps: pair.serverPublicIps };
      this.pairApplicationId = pair.applicationId;
    } else {
      const cloudInit = pulumi.secret(secrets.apply((values) => renderGatewayCloudInit(plan, values)));
      cloudInits = pulumi.secret(cloudInit.apply((text) => [text]));
      if (args.externalHost) {
        publicIp = pulumi.output(args.externalHost.publicIp);
        servers = { ids: pulumi.output([]), publicIps: pulumi.output([]) };
      } else {
        const vm = this.virtualMachine(name, args, plan, cloudInit);
        publicIp = vm.publicIp;
        servers = { ids: vm.serverId.apply((id) => [id]), publicIps: vm.publicIp.apply((address) => [address]) };
      }
    }
    const cloudInit = pulumi.secret(cloudInits.apply((texts) => texts[0]));

    const peer = new k8s.apiextensions.CustomResource(
      `${name}-peer`,
      {
        apiVersion: "kilo.squat.ai/v1alpha1",
        kind: "Peer",
        metadata: { name: plan.peerName, labels: appLabels("wireguard-gateway", "gateway") },
        spec: {
          allowedIPs: [`${plan.tunnelAddress}/32`, ...plan.deviceSubnets],
          publicKey: kiloKeys.publicKey,
          persistentKeepalive: plan.kilo.persistentKeepaliveSeconds,
          endpoint: { dnsOrIP: { ip: publicIp }, port: plan.kilo.listenPort },
        },
      },
      { parent: this },
    );

    const metricsService = this.metricsEndpoint(name, args, plan, scrape);

    this.publicIp = publicIp;
    this.metricsServiceName = metricsService;
    this.metricsPort = plan.metrics.nodeExporterPort;
    this.steeringIntervalSeconds = plan.steering.intervalSeconds;
    this.uplinkInterface = plan.uplink.interfaceName;
    this.kiloPublicKey = kiloKeys.publicKey;
    this.uplinkPublicKey = uplinkKeys.publicKey;
    this.tunnelAddress = pulumi.output(plan.tunnelAddress);
    this.ingressAddress = plan.ingress.address;
    this.inboundRules = gatewayInboundRules(plan);
    this.peerName = peer.metadata.name;
    this.kubeconfig = kubeconfig;
    this.cloudInit = cloudInit;
    this.cloudInits = cloudInits;
    this.serverIds = servers.ids;
    this.serverPublicIps = servers.publicIps;
    this.leaseName = lease?.leaseName;
    this.leaseNamespace = lease?.namespace;
    this.leaseIdentities = lease?.identities ?? [];
    this.concentratorPeers = pulumi.output(concentratorGatewayPeers(plan));
    this.registerOutputs({
      publicIp: this.publicIp,
      kiloPublicKey: this.kiloPublicKey,
      uplinkPublicKey: this.uplinkPublicKey,
      tunnelAddress: this.tunnelAddress,
      peerName: this.peerName,
      kubeconfig: this.kubeconfig,
      concentratorPeers: this.concentratorPeers,
      metricsServiceName: this.metricsServiceName,
      serverIds: this.serverIds,
      serverPublicIps: this.serverPublicIps,
      leaseName: this.leaseName,
      pairApplicationId: this.pairApplicationId,
    });
  }

  /**
   * The gateway's node exporter as an in-cluster scrape target: a Service without selector (nothing in the cluster
   * backs it) and an EndpointSlice of our own at the tunnel address, the one address the Kilo mesh routes to the
   * gateway and the only interface whose nftables input rule opens the port. Headless: Prometheus scrapes endpoints
   * directly, and a virtual IP would only add a kube-proxy DNAT to an address outside the pod network. Returns the
   * Service's name.
   */
  private metricsEndpoint(name: string, args: WireguardGatewayArgs, plan: GatewayPlan, scrape: GatewayMetricsScrapeMode): pulumi.Output<string> {
    const port = plan.metrics.nodeExporterPort;
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
        endpoints: [{ addresses: [plan.tunnelAddress], conditions: { ready: true } }],
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

  /** The Scaleway VM, its flexible IP and security group; returns the IP's address and the server's ID. */
  private virtualMachine(
    name: string,
    args: WireguardGatewayArgs,
    plan: GatewayPlan,
    cloudInit: pulumi.Output<string>,
  ): { publicIp: pulumi.Output<string>; serverId: pulumi.Output<string> } {
    const zone = args.zone ?? GATEWAY_VM_DEFAULTS.zone;
    const ip = new scaleway.instance.Ip(
      `${name}-ip`,
      { type: "routed_ipv4", zone, tags: args.tags },
      { parent: this, protect: args.protectPublicIp ?? false },
    );

    const securityGroup = this.securityGroup(name, args, plan);

    const server = new scaleway.instance.Server(
      `${name}-vm`,
      {
        zone,
        type: args.instanceType ?? GATEWAY_VM_DEFAULTS.instanceType,
        image: args.image ?? GATEWAY_VM_DEFAULTS.image,
        ipId: ip.id,
        securityGroupId: securityGroup.id,
        userData: { "cloud-init": cloudInit },
        tags: args.tags,
      },
      { parent: this, ...gatewayServerOptions(cloudInit) },
    );

    return { publicIp: ip.address, serverId: server.id };
  }

  /** The security group of the gateway's servers (the VM, or both of a pair): the rules of `inboundRules`. */
  private securityGroup(name: string, args: WireguardGatewayArgs, plan: GatewayPlan): scaleway.instance.SecurityGroup {
    return new scaleway.instance.SecurityGroup(
      `${name}-sg`,
      {
        zone: args.zone ?? GATEWAY_VM_DEFAULTS.zone,
        description: "iot-udp-ingress gateway: Kilo mesh, device uplink from the concentrators, SSH from admins",
        inboundDefaultPolicy: "drop",
        outboundDefaultPolicy: "accept",
        stateful: true,
        inboundRules: gatewayInboundRules(plan),
        tags: args.tags,
      },
      { parent: this },
    );
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
  private kubernetesIdentity(
    name: string,
    args: WireguardGatewayArgs,
    plan: GatewayPlan,
    generation: string | undefined,
    lease: GatewayPairLease | undefined,
  ): { token: pulumi.Output<string> } {
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
    for (const [role, namespace, rules] of gatewayNamespacedRules(plan.steering)) {
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
    if (lease !== undefined) {
      // The pair's Lease, and no other, in the namespace of the ServiceAccount both gateways share.
      const rules = leadershipRbacRules(pairLeadershipCheck(lease, 0)).map((rule) => ({
        apiGroups: [...rule.apiGroups],
        resources: [...rule.resources],
        ...(rule.resourceNames === undefined ? {} : { resourceNames: [...rule.resourceNames] }),
        verbs: [...rule.verbs],
      }));
      const leaseRole = new k8s.rbac.v1.Role(
        `${name}-role-leadership`,
        { metadata: { name: `${accountName}-leadership`, namespace: lease.namespace, labels }, rules },
        { parent: this },
      );
      new k8s.rbac.v1.RoleBinding(
        `${name}-rolebinding-leadership`,
        {
          metadata: { name: `${accountName}-leadership`, namespace: lease.namespace, labels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: leaseRole.metadata.name },
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

/** One inbound rule of the gateway's firewall, in the Scaleway security group's terms. */
export interface GatewayInboundRule {
  readonly action: "accept";
  readonly protocol: "UDP" | "TCP";
  readonly port: number;
  readonly ipRange: string;
}

/** Inbound rules of the gateway: everything else is dropped by the default policy. */
export function gatewayInboundRules(plan: GatewayPlan): GatewayInboundRule[] {
  // Kosmos nodes reach the gateway from their own public addresses, which change with the nodes.
  const kiloMesh: GatewayInboundRule[] = [{ action: "accept", protocol: "UDP", port: plan.kilo.listenPort, ipRange: "0.0.0.0/0" }];
  const uplink = plan.uplink.concentrators.flatMap((concentrator) =>
    concentrator.sourceCidrs.map((ipRange): GatewayInboundRule => ({ action: "accept", protocol: "UDP", port: plan.uplink.listenPort, ipRange })),
  );
  const ssh = plan.adminCidrs.map((ipRange): GatewayInboundRule => ({ action: "accept", protocol: "TCP", port: 22, ipRange }));
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
export function gatewayNamespacedRules(steering: GatewayPlan["steering"]): Array<[role: string, namespace: string, rules: PolicyRule[]]> {
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
 * Resolves the plan and checks the resource args before any resource exists, and reports every problem of both in
 * one InputPropertiesError at the args' property paths.
 */
function checkedArgs(
  name: string,
  args: WireguardGatewayArgs,
): { plan: GatewayPlan; rotation: GatewayRotationArgs; scrape: GatewayMetricsScrapeMode; lease?: GatewayPairLease } {
  const problems: Problem[] = [...gatewayHostProblems(args), ...rotationProblems(args.rotation ?? {})];
  const highAvailability = args.highAvailability ?? false;
  if (typeof highAvailability !== "boolean") {
    problems.push({ path: "highAvailability", message: `must be true or false, got ${JSON.stringify(highAvailability)}` });
  }
  const lease = highAvailability === true && args.externalHost === undefined ? gatewayPairLease(name, args.identityNamespace) : undefined;
  if (lease !== undefined) {
    // The Lease's name and the identities come from the component's name (and the namespace is an arg's).
    for (const index of [0, 1]) {
      try {
        resolveGatewayLeadership(pairLeadershipCheck(lease, index));
      } catch (error) {
        if (!(error instanceof PlanError)) throw error;
        for (const problem of error.problems) {
          const path = problem.path === "namespace" ? "identityNamespace" : "name";
          if (!problems.some((known) => known.path === path && known.message === problem.message)) problems.push({ path, message: problem.message });
        }
      }
    }
  }
  const scrape = args.metrics?.scrape ?? "annotations";
  if (!(GATEWAY_METRICS_SCRAPE_MODES as readonly string[]).includes(scrape)) {
    problems.push({ path: "metrics.scrape", message: `must be one of ${GATEWAY_METRICS_SCRAPE_MODES.join(", ")}, got ${JSON.stringify(scrape)}` });
  }
  let plan: GatewayPlan | undefined;
  try {
    plan = resolveGatewayPlan({ ...args, peerName: name, cluster: { podCidr: args.cluster.podCidr, serviceCidr: args.cluster.serviceCidr } });
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    // The Peer's name is the component's: a bad one is the component name's problem, not an arg's.
    problems.unshift(...error.problems.map((problem) => (problem.path === "peerName" ? { ...problem, path: "name" } : problem)));
  }
  if (plan === undefined || problems.length > 0) throw inputPropertiesError("WireguardGateway", problems);
  return { plan, rotation: args.rotation ?? {}, scrape: scrape as GatewayMetricsScrapeMode, ...(lease === undefined ? {} : { lease }) };
}

/**
 * The leadership options of a pair member as far as the component knows them, to check the Lease's name, the
 * namespace and the identity before any resource exists and to derive the Lease's RBAC; the hooks are the cloud-init's
 * (infra/gateway/cloud-init.ts, gatewayPairLeadershipOptions) and do not change either.
 */
function pairLeadershipCheck(lease: GatewayPairLease, index: number): GatewayLeadershipOptions {
  return { leaseName: lease.leaseName, namespace: lease.namespace, identity: lease.identities[index], onActive: ["active"], onStandby: ["standby"] };
}

/** With `externalHost` the VM's settings have nothing to apply to; a value there would be a mistake that goes unseen. */
export function gatewayHostProblems(
  args: Pick<WireguardGatewayArgs, "externalHost" | "zone" | "instanceType" | "image" | "protectPublicIp" | "highAvailability">,
): Problem[] {
  if (args.externalHost === undefined) return [];
  const problems: Problem[] = [];
  if (!isIpv4Address(args.externalHost.publicIp)) {
    problems.push({ path: "externalHost.publicIp", message: `${JSON.stringify(args.externalHost.publicIp)} is not an IPv4 address` });
  }
  const vmOnly = { zone: args.zone, instanceType: args.instanceType, image: args.image, protectPublicIp: args.protectPublicIp };
  for (const [key, value] of Object.entries(vmOnly)) {
    if (value !== undefined) problems.push({ path: key, message: "does not apply with externalHost: no VM is created" });
  }
  // false is the default and says nothing about VMs; the stack's config always carries it.
  if (args.highAvailability === true) {
    problems.push({ path: "highAvailability", message: "does not apply with externalHost: a pair is two Scaleway VMs sharing a flexible IP" });
  }
  return problems;
}

/** A rotation label: it ends up in a Secret's name, so it must be a short DNS label fragment. */
export const ROTATION_LABEL = /^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/;
export const ROTATION_LABEL_RULE = "must be 1-20 lowercase letters, digits or dashes (not at the ends)";

/** Rotation labels that could not be part of a Secret's name. */
export function rotationProblems(rotation: GatewayRotationArgs): Problem[] {
  return Object.entries(rotation)
    .filter(([, value]) => value !== undefined && (typeof value !== "string" || !ROTATION_LABEL.test(value)))
    .map(([key, value]) => ({ path: `rotation.${key}`, message: `${JSON.stringify(value)} ${ROTATION_LABEL_RULE}` }));
}
