/*
 * The public API: the components, their Args and the types of their outputs, by name. Helpers the components use
 * among themselves or that tests reach for stay importable from their modules, not from here.
 */
export { KosmosCluster } from "./kosmos-cluster";
export type { AutoUpgradeArgs, ExternalPoolArgs, GeneralPoolArgs, IngressPoolArgs, KosmosClusterArgs, KosmosClusterType } from "./kosmos-cluster";
export { ExistingCluster } from "./existing-cluster";
export type { ExistingClusterArgs } from "./existing-cluster";
export type { ClusterConnection, IngressPlacement, NodeLabel, NodeTaint } from "./kubernetes-placement";
export { DecoderService } from "./decoder-service";
export type { DecoderServiceArgs } from "./decoder-service";
export { DecoderDeployment } from "./decoder-deployment";
export type {
  ContainerResources,
  DecoderDeploymentArgs,
  DecoderEgressCidr,
  DecoderEgressPeer,
  DecoderEgressPort,
  DecoderEgressRule,
  DecoderEgressSelector,
} from "./decoder-deployment";
export { EnvoyUdpIngress } from "./envoy-udp-ingress";
export type { EnvoyMetricsArgs, EnvoyUdpIngressArgs, MetricsScrapeMode } from "./envoy-udp-ingress";
export type { SessionSizing } from "../infra/envoy";
export { WireguardGateway } from "./wireguard-gateway";
export type {
  ConcentratorArgs,
  ExternalGatewayHostArgs,
  GatewayClusterArgs,
  GatewayInboundRule,
  GatewayMetricsArgs,
  GatewayMetricsScrapeMode,
  GatewayRotationArgs,
  PinnedDownloadArgs,
  SteeringArgs,
  WireguardGatewayArgs,
} from "./wireguard-gateway";
export type { ConcentratorGatewayPeer } from "../infra/gateway";
export { RegistryPullSecret } from "./registry-pull-secret";
export type { RegistryPullSecretArgs } from "./registry-pull-secret";
export { IngressObservability } from "./ingress-observability";
export type { IngressObservabilityArgs } from "./ingress-observability";
