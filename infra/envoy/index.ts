export * from "./envoy-api";
export { ADMIN_CLUSTER_NAME, ENVOY_BOOTSTRAP_DEFAULTS, PROMETHEUS_STATS_PATH, EnvoyBootstrapOptionsError, edsFilePath, renderEnvoyBootstrap, resolveEnvoyBootstrapOptions } from "./bootstrap";
export type { EnvoyBootstrapOptions } from "./bootstrap";
export { envoyBootstrapHash, serializeEnvoyBootstrap } from "./serialize";
export type { EnvoyConfigFormat } from "./serialize";
export { DEFAULT_BASE_FILE_DESCRIPTORS, DEFAULT_EPHEMERAL_PORTS, DEFAULT_SESSION_HEADROOM, SessionSizingError, sizeEnvoySessions } from "./sizing";
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
