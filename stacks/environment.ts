import * as pulumi from "@pulumi/pulumi";
import {
  DecoderDeployment,
  DecoderService,
  EnvoyUdpIngress,
  ExistingCluster,
  IngressObservability,
  KosmosCluster,
  RegistryPullSecret,
  WireguardGateway,
  type IngressPlacement,
  type PinnedDownloadArgs,
} from "../components";
import { isScalewayRegistryImage, registryHostOf } from "../components/registry-host";
import { ConfigError, type EnvironmentConfig } from "./config";
import { isExistingCluster, type KosmosClusterConfig } from "./config-schema";
import { envoyPlanInput } from "./envoy-config";
import { gatewayPlanInput, UNPINNED_SHA256 } from "./gateway-config";

/** What one environment is made of; the stack exports a selection of it. */
export interface Environment {
  /** The cluster: created in Scaleway (`KosmosCluster`), or `cluster.existing` (`ExistingCluster`). */
  readonly cluster: KosmosCluster | ExistingCluster;
  readonly decoderService: DecoderService;
  readonly decoders: DecoderDeployment;
  /** The decoder image's registry credentials; absent for a public image. */
  readonly decoderPullSecret?: RegistryPullSecret;
  readonly ingress: EnvoyUdpIngress;
  readonly gateway: WireguardGateway;
  /** The alert rules (always rendered) and, when asked for, the PrometheusRule and the dashboard ConfigMap. */
  readonly observability: IngressObservability;
}

/** Creates an environment from validated config: the cluster, the decoders and Envoy on it, the gateway in front. */
export function createEnvironment(stackName: string, config: EnvironmentConfig, isDryRun: boolean): Environment {
  const cluster = createCluster(stackName, config);
  const placement: IngressPlacement = { nodeLabel: cluster.ingressNodeLabel, nodeTaint: cluster.ingressNodeTaint };
  const onCluster = { providers: [cluster.provider] };

  const decoderService = new DecoderService(
    `${stackName}-decoder`,
    { name: config.decoder.name, namespace: config.decoder.namespace, createNamespace: true, port: config.decoder.port },
    onCluster,
  );
  const decoderPullSecret = createDecoderPullSecret(stackName, config, decoderService, onCluster);
  const decoders = new DecoderDeployment(
    `${stackName}-decoder`,
    {
      name: config.decoder.name,
      namespace: decoderService.namespace,
      selectorLabels: decoderService.selectorLabels,
      image: config.decoder.image,
      replicas: config.decoder.replicas,
      port: config.decoder.port,
      healthPort: config.decoder.healthPort,
      env: config.decoder.env,
      resources: config.decoder.resources,
      placement,
      deviceSubnets: config.devices.subnets,
      downlinkPorts: config.decoder.downlinkPorts,
      egress: config.decoder.egress,
      imagePullSecrets: decoderPullSecret ? [decoderPullSecret.secretName] : [],
    },
    onCluster,
  );

  const ingress = new EnvoyUdpIngress(
    `${stackName}-envoy`,
    {
      namespace: config.ingress.namespace,
      createNamespace: true,
      envoyImage: config.ingress.envoyImage,
      edsSidecarImage: config.ingress.edsSidecarImage,
      ...envoyPlanInput(config),
      placement,
      decoder: { namespace: decoderService.namespace, serviceName: decoderService.serviceName },
      resources: config.ingress.resources,
    },
    onCluster,
  );

  const { gateway: gatewayConfig } = config;
  const { peerName: _peerName, cluster: clusterRanges, ...gatewayPlan } = gatewayPlanInput(`${stackName}-gateway`, config, {
    ingressNodeLabel: cluster.ingressNodeLabel,
    envoyPodSelector: ingress.podSelector,
  });
  const gateway = new WireguardGateway(
    `${stackName}-gateway`,
    {
      ...gatewayPlan,
      tools: {
        kgctl: pinnedDownload("gateway.tools.kgctl", gatewayConfig.tools.kgctl, isDryRun),
        kubectl: pinnedDownload("gateway.tools.kubectl", gatewayConfig.tools.kubectl, isDryRun),
      },
      zone: gatewayConfig.zone,
      instanceType: gatewayConfig.instanceType,
      image: gatewayConfig.image,
      externalHost: gatewayConfig.externalHost,
      highAvailability: gatewayConfig.highAvailability,
      rotation: gatewayConfig.rotation,
      cluster: { ...clusterRanges, apiServerUrl: cluster.apiServerUrl, caCertificate: cluster.clusterCaCertificate },
      identityNamespace: config.ingress.namespace,
      metrics: { scrape: gatewayConfig.metrics.scrape },
      // An external host's address is not the stack's to protect.
      protectPublicIp: gatewayConfig.externalHost === undefined ? config.cluster.protect : undefined,
      tags: [...config.cluster.tags, `environment=${config.environment}`],
    },
    { ...onCluster, dependsOn: [ingress, decoderService] },
  );

  const observability = new IngressObservability(
    `${stackName}-observability`,
    {
      namespace: config.observability.namespace ?? config.ingress.namespace,
      // The rules are rendered with what the components were built with, so a threshold never drifts from the budget.
      alerts: {
        maxConnections: ingress.sizing.maxConnections,
        steeringIntervalSeconds: gateway.steeringIntervalSeconds,
        uplinkInterface: gateway.uplinkInterface,
      },
      prometheusRule: config.observability.prometheusRule,
      grafanaDashboard: config.observability.grafanaDashboard,
      labels: config.observability.labels,
    },
    // The default namespace is Envoy's, which the ingress component creates.
    { ...onCluster, dependsOn: [ingress] },
  );

  return { cluster, decoderService, decoders, decoderPullSecret, ingress, gateway, observability };
}

/** `decoder.imagePullCredentials`, its default resolved: credentials for an image in a Scaleway registry. */
export function decoderImagePullCredentials(config: EnvironmentConfig): "scaleway" | "none" {
  return config.decoder.imagePullCredentials ?? (isScalewayRegistryImage(config.decoder.image) ? "scaleway" : "none");
}

const PROJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The Project whose registry the decoder pulls from: `decoder.registryProjectId`, else the Scaleway provider's own
 * project (`scaleway:projectId`, else `SCW_DEFAULT_PROJECT_ID`, as the provider reads them).
 */
export function registryProjectId(config: EnvironmentConfig): string {
  const explicit = config.decoder.registryProjectId;
  const fromProvider = new pulumi.Config("scaleway").get("projectId");
  const fromEnvironment = process.env.SCW_DEFAULT_PROJECT_ID;
  const [projectId, source] =
    explicit !== undefined
      ? [explicit, "decoder.registryProjectId"]
      : fromProvider !== undefined && fromProvider !== ""
        ? [fromProvider, "scaleway:projectId"]
        : [fromEnvironment ?? "", "SCW_DEFAULT_PROJECT_ID"];
  if (projectId === "") {
    throw new ConfigError([
      {
        path: "decoder.registryProjectId",
        message:
          "is required for a decoder image in a Scaleway registry when neither scaleway:projectId nor " +
          "SCW_DEFAULT_PROJECT_ID is set: the registry read permission is scoped to the Project that owns the namespace " +
          '(or set decoder.imagePullCredentials: "none" for a public image)',
      },
    ]);
  }
  if (!PROJECT_ID.test(projectId)) {
    throw new ConfigError([{ path: "decoder.registryProjectId", message: `${source} (${projectId}) is not a Scaleway Project id (a lowercase UUID)` }]);
  }
  return projectId;
}

function createDecoderPullSecret(
  stackName: string,
  config: EnvironmentConfig,
  decoderService: DecoderService,
  opts: pulumi.ComponentResourceOptions,
): RegistryPullSecret | undefined {
  if (decoderImagePullCredentials(config) === "none") return undefined;
  return new RegistryPullSecret(
    `${stackName}-decoder-pull`,
    {
      registry: registryHostOf(config.decoder.image),
      projectId: registryProjectId(config),
      namespace: decoderService.namespace,
      applicationName: `${config.cluster.name}-decoder-pull`,
      tags: [...config.cluster.tags, `environment=${config.environment}`],
    },
    opts,
  );
}

function createCluster(stackName: string, config: EnvironmentConfig): KosmosCluster | ExistingCluster {
  if (isExistingCluster(config.cluster)) {
    return new ExistingCluster(stackName, { kubeconfig: pulumi.secret(config.cluster.existing.kubeconfig) });
  }
  const cluster: KosmosClusterConfig & { protect: boolean } = config.cluster;
  return new KosmosCluster(
    stackName,
    {
      clusterName: cluster.name,
      kubernetesVersion: cluster.kubernetesVersion,
      type: cluster.type,
      region: cluster.region,
      podCidr: cluster.podCidr,
      serviceCidr: cluster.serviceCidr,
      tags: [...cluster.tags, `environment=${config.environment}`],
      deleteAdditionalResources: cluster.deleteAdditionalResources,
      autoUpgrade: cluster.autoUpgrade,
      ingressPool: cluster.ingressPool,
      generalPools: cluster.generalPools,
      externalPools: cluster.externalPools,
    },
    { protect: cluster.protect },
  );
}

/**
 * A download the gateway may only install against a reviewed sum. A plan may go ahead without the sum (so that
 * `pulumi preview` works before anyone has pinned it) but a deployment may not.
 */
function pinnedDownload(path: string, download: { version: string; sha256?: string }, isDryRun: boolean): PinnedDownloadArgs {
  if (download.sha256 !== undefined) return { version: download.version, sha256: download.sha256 };
  if (!isDryRun) {
    throw new ConfigError([
      {
        path: `${path}.sha256`,
        message:
          "is required to deploy: download the binary on a trusted machine, check it, and pin its sha256 here " +
          "(the gateway refuses any download whose sum differs)",
      },
    ]);
  }
  pulumi.log.warn(
    `${path}.sha256 is not pinned: this plan carries a placeholder sum that no download matches, and \`pulumi up\` will refuse to run until it is pinned.`,
  );
  return { version: download.version, sha256: UNPINNED_SHA256 };
}
