import { stringify } from "yaml";
import { checkGatewaySecrets, type GatewayPlan, type GatewaySecrets } from "./plan";
import { renderBootstrapScript } from "./bootstrap";
import { renderGatewayRuleset } from "./nftables";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { readGatewayScript } from "./script-files";
import { renderSteeringAgentScript } from "./steering-agent";
import { renderConntrackModprobeConf, renderModulesLoadConf, renderSysctlConf } from "./sysctl";
import { gatewayUnits, renderSystemdUnit } from "./units";
import { renderUplinkConfig } from "./uplink";

/** One `write_files` entry of cloud-config. */
export interface CloudInitFile {
  readonly path: string;
  readonly content: string;
  readonly owner: "root:root";
  /** Octal mode as a string, as cloud-init expects. */
  readonly permissions: "0600" | "0644" | "0755";
  /** Written after the packages are installed, so package-owned paths (/etc/nftables.conf) keep our content. */
  readonly defer: true;
}

/** The subset of cloud-config the gateway uses. */
export interface GatewayCloudConfig {
  readonly package_update: true;
  readonly packages: readonly string[];
  readonly ntp: { readonly enabled: true; readonly ntp_client: "chrony" };
  readonly write_files: readonly CloudInitFile[];
  readonly runcmd: ReadonlyArray<readonly string[]>;
}

/** Packages the gateway needs from the distribution. chrony keeps the clock kgctl's 60 s node freshness check relies on. */
export const GATEWAY_PACKAGES = ["wireguard-tools", "nftables", "jq", "curl", "conntrack", "chrony", "prometheus-node-exporter"] as const;

/**
 * The node exporter's ARGS (Debian's unit runs `prometheus-node-exporter $ARGS`): the textfile directory the steering
 * agent writes to, stated rather than left to the package default, and the port the firewall opens on the Kilo
 * interface only (it listens on every address; nftables' input chain is what keeps it off the public side).
 */
export function renderNodeExporterDefaults(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  return `# Written by iot-udp-ingress (cloud-init).\nARGS="--collector.textfile.directory=${paths.textfileDir} --web.listen-address=:${options.metrics.nodeExporterPort}"\n`;
}

/** Every file the gateway VM gets, with its mode: secrets (kubeconfig, private keys) 0600, scripts 0755. */
export function gatewayFiles(options: GatewayPlan, secrets: GatewaySecrets, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): CloudInitFile[] {
  const file = (path: string, content: string, permissions: CloudInitFile["permissions"]): CloudInitFile => ({
    path,
    content,
    owner: "root:root",
    permissions,
    defer: true,
  });
  return [
    file(paths.kubeconfig, secrets.kubeconfig, "0600"),
    // kgctl parses the file as exactly one base64 key: a trailing newline makes it fail.
    file(paths.kiloPrivateKey, secrets.kiloPrivateKey, "0600"),
    file(`${paths.wireguardDir}/${options.uplink.interfaceName}.conf`, renderUplinkConfig(options, secrets.uplinkPrivateKey), "0600"),
    file(paths.nftablesConf, renderGatewayRuleset(options), "0755"),
    file(paths.sysctlConf, renderSysctlConf(options), "0644"),
    file(paths.modprobeConf, renderConntrackModprobeConf(options), "0644"),
    file(paths.modulesLoadConf, renderModulesLoadConf(), "0644"),
    file(paths.steeringProgram, readGatewayScript("steering-targets.jq"), "0644"),
    file(paths.steeringAgentScript, renderSteeringAgentScript(options, paths), "0755"),
    file(paths.bootstrapScript, renderBootstrapScript(options, paths), "0755"),
    file(paths.nodeExporterDefaults, renderNodeExporterDefaults(options, paths), "0644"),
    ...gatewayUnits(options, paths).map((unit) => file(`${paths.systemdUnitDir}/${unit.name}`, renderSystemdUnit(unit), "0644")),
  ];
}

export function buildGatewayCloudConfig(options: GatewayPlan, secrets: GatewaySecrets, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): GatewayCloudConfig {
  return {
    package_update: true,
    packages: [...GATEWAY_PACKAGES],
    ntp: { enabled: true, ntp_client: "chrony" },
    write_files: gatewayFiles(options, secrets, paths),
    runcmd: [[paths.bootstrapScript]],
  };
}

/** Serialises a cloud-config object; the first line must be `#cloud-config` for cloud-init to read it as such. */
export function serializeCloudConfig(config: GatewayCloudConfig): string {
  return `#cloud-config\n${stringify(config, { lineWidth: 0, blockQuote: "literal" })}`;
}

/**
 * The gateway VM's cloud-init user data. It carries the kubeconfig and private keys in clear: the caller must keep
 * the result secret. Throws a PlanError when a secret is not what kgctl and wg-quick can read.
 */
export function renderGatewayCloudInit(plan: GatewayPlan, secrets: GatewaySecrets): string {
  checkGatewaySecrets(secrets);
  return serializeCloudConfig(buildGatewayCloudConfig(plan, secrets));
}
