import type { GatewayPlan } from "./plan";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { readGatewayScript } from "./script-files";
import { withShellParameters, type ShellParameter } from "./shell-parameters";
import { conntrackBucketsFor, conntrackMaxFor } from "./sysctl";
import { KILO_CONNECT_UNIT, NODE_EXPORTER_UNIT, STEERING_TIMER_UNIT } from "./units";
import { uplinkUnitName } from "./uplink";

/** The variables scripts/first-boot.sh reads. */
export function bootstrapParameters(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): ShellParameter[] {
  const tools = options.tools;
  return [
    { name: "KGCTL_URL", value: tools.kgctl.url, comment: `kgctl ${tools.kgctl.version}` },
    { name: "KGCTL_SHA256", value: tools.kgctl.sha256 },
    { name: "KGCTL", value: paths.kgctl },
    { name: "KUBECTL_URL", value: tools.kubectl.url, comment: `kubectl ${tools.kubectl.version}` },
    { name: "KUBECTL_SHA256", value: tools.kubectl.sha256 },
    { name: "KUBECTL", value: paths.kubectl },
    { name: "CONNTRACK_HASHSIZE", value: conntrackBucketsFor(conntrackMaxFor(options.devices.expectedCount)) },
    { name: "SYSCTL_CONF", value: paths.sysctlConf },
    { name: "NFT", value: paths.nft },
    { name: "NFTABLES_CONF", value: paths.nftablesConf },
    { name: "UNITS", value: ["chrony.service", "nftables.service", uplinkUnitName(options), KILO_CONNECT_UNIT, STEERING_TIMER_UNIT] },
    { name: "TEXTFILE_DIR", value: paths.textfileDir },
    // Started by its package before cloud-init wrote its ARGS; a restart makes it read them.
    { name: "RESTART_UNITS", value: [NODE_EXPORTER_UNIT] },
  ];
}

/**
 * First-boot script run by cloud-init after the packages and files are in place: scripts/first-boot.sh with its
 * parameters rendered in. It installs kgctl and kubectl only if their sha256 sums match the pinned ones, applies the
 * kernel settings and the firewall, then starts the services.
 */
export function renderBootstrapScript(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  return withShellParameters(readGatewayScript("first-boot.sh"), bootstrapParameters(options, paths));
}
