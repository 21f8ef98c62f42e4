export * from "./envoy-api";
export {
  ADMIN_CLUSTER_NAME,
  EDS_DIRECTORY,
  EDS_FILE_PATH,
  ENVOY_DECODER_CLUSTER,
  ENVOY_LISTENER_NAME,
  ENVOY_NODE_ID,
  ENVOY_STAT_PREFIX,
  PROMETHEUS_STATS_PATH,
  renderEnvoyBootstrap,
} from "./bootstrap";
export { ENVOY_DEFAULTS, ENVOY_PLAN_SUBJECT, METRICS_SCRAPE_MODES, resolveEnvoyPlan } from "./plan";
export type { EnvoyMetricsInput, EnvoyPlan, EnvoyPlanInput, EnvoySessionsInput, MetricsScrapeMode } from "./plan";
export { envoyBootstrapHash, serializeEnvoyBootstrap } from "./serialize";
export type { EnvoyConfigFormat } from "./serialize";
export { DEFAULT_BASE_FILE_DESCRIPTORS, DEFAULT_EPHEMERAL_PORTS, DEFAULT_SESSION_HEADROOM, sizeEnvoySessions } from "./sizing";
export type { SessionSizing, SessionSizingInput } from "./sizing";
export { CLUSTER_LOAD_ASSIGNMENT_TYPE, buildClusterLoadAssignment, buildEdsDiscoveryResponse, renderEdsFile, serializeEdsDiscoveryResponse } from "./eds";
export type { ClusterLoadAssignment, EdsDiscoveryResponse, EdsSelection, EndpointSlice, SliceEndpoint, SlicePort } from "./eds";
export {
  EDS_SIDECAR_DIR,
  EDS_SIDECAR_ENV,
  EDS_SIDECAR_FILES,
  EDS_SIDECAR_MAIN,
  EDS_SIDECAR_REQUIRED_ENV,
  edsSidecarFilePaths,
  edsSidecarStartupProbeCommand,
} from "./eds-sidecar-files";
