export * from "./plan";
export { DEFAULT_GATEWAY_PATHS } from "./paths";
export type { GatewayPaths } from "./paths";
export {
  MIN_CONNTRACK_MAX,
  conntrackBucketsFor,
  conntrackMaxFor,
  gatewaySysctls,
  renderConntrackModprobeConf,
  renderModulesLoadConf,
  renderSysctlConf,
  udpTimeoutFor,
} from "./sysctl";
export type { Sysctl } from "./sysctl";
export {
  FILTER_TABLE,
  FORWARD_DROP_REASONS,
  NAT_TABLE,
  NFT_COUNTERS,
  STEER_CHAIN,
  STEER_MAP,
  buildGatewayRuleset,
  nftPortSet,
  renderGatewayRuleset,
  renderNftRuleset,
} from "./nftables";
export type { NftChain, NftCounter, NftFamily, NftHook, NftMap, NftRule, NftSet, NftTable } from "./nftables";
export { STEERING_TARGETS_JQ } from "./steering";
export type { MeshFacts, SteeringDecision, SteeringTarget } from "./steering";
export {
  GATEWAY_METRICS_FILE,
  MESH_STATUS_FILE,
  STEERING_EXIT_API_ERROR,
  STEERING_EXIT_MESH_STALE,
  STEERING_EXIT_NOTHING_APPLIED,
  STEERING_EXIT_NO_TARGETS,
  meshStaleAfterSeconds,
  renderSteeringAgentScript,
  steeringAgentParameters,
} from "./steering-agent";
export {
  DEFAULT_LEADERSHIP_PATHS,
  LEADERSHIP_DEFAULTS,
  LEADERSHIP_EXIT_API_ERROR,
  LEADERSHIP_EXIT_FENCED,
  LEADERSHIP_EXIT_HOOK_FAILED,
  LEADERSHIP_EXIT_LOST_RACE,
  LEADERSHIP_METRICS_FILE,
  LEADERSHIP_STATE_FILE,
  leadershipAgentParameters,
  leadershipRbacRules,
  renderLeadershipAgentScript,
  resolveGatewayLeadership,
} from "./leadership";
export type { GatewayLeadership, GatewayLeadershipOptions, LeadershipPaths, LeadershipPolicyRule } from "./leadership";
export { DEFAULT_ROLE_PATHS, ROLE_API_TIMEOUT_SECONDS, ROLE_RECHECK_SECONDS, SCALEWAY_API_URL, checkGatewayRoleOptions, gatewayRoleParameters, renderGatewayRoleScript } from "./role";
export type { GatewayRoleOptions, GatewayRolePaths } from "./role";
export { SHELL_PARAMETERS_MARKER, renderShellParameters, shellQuote, withShellParameters } from "./shell-parameters";
export type { ShellParameter } from "./shell-parameters";
export { GATEWAY_SCRIPT_FILES, gatewayScriptPath, gatewayScriptsDir } from "./script-files";
export type { GatewayScriptFile } from "./script-files";
export { concentratorGatewayPeers } from "./concentrator";
export type { ConcentratorGatewayPeer } from "./concentrator";
export {
  KILO_CONNECT_UNIT,
  LEADERSHIP_SERVICE_UNIT,
  LEADERSHIP_TIMER_UNIT,
  NODE_EXPORTER_UNIT,
  STEERING_SERVICE_UNIT,
  STEERING_TIMER_UNIT,
  gatewayPairUnits,
  gatewayUnits,
  kgctlConnectArgs,
  kiloConnectUnit,
  leadershipServiceUnit,
  leadershipTimerUnit,
  pairKiloConnectUnit,
  renderSystemdUnit,
  steeringAgentServiceUnit,
  steeringAgentTimerUnit,
} from "./units";
export type { SystemdUnitFile } from "./units";
export { renderUplinkConfig, uplinkUnitName } from "./uplink";
export { bootstrapParameters, renderBootstrapScript } from "./bootstrap";
export {
  GATEWAY_PACKAGES,
  buildGatewayCloudConfig,
  forwardingUnits,
  gatewayPairLeadershipOptions,
  gatewayPairRoleOptions,
  renderNodeExporterDefaults,
  gatewayFiles,
  renderGatewayCloudInit,
  renderPairBootstrapScript,
  serializeCloudConfig,
} from "./cloud-init";
export type { CloudInitFile, GatewayCloudConfig, GatewayPairCloudInit, GatewayPairMember, GatewayPairSecrets } from "./cloud-init";
