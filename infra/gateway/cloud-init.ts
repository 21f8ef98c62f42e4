import { stringify } from "yaml";
import { Problems } from "../problems";
import { checkGatewaySecrets, GATEWAY_HOST, type GatewayPlan, type GatewaySecrets } from "./plan";
import { bootstrapParameters, renderBootstrapScript } from "./bootstrap";
import { renderLeadershipAgentScript, resolveGatewayLeadership, type GatewayLeadershipOptions } from "./leadership";
import { renderGatewayRuleset } from "./nftables";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { DEFAULT_ROLE_PATHS, renderGatewayRoleScript, type GatewayRoleOptions } from "./role";
import { readGatewayScript } from "./script-files";
import { withShellParameters } from "./shell-parameters";
import { renderSteeringAgentScript } from "./steering-agent";
import { renderConntrackModprobeConf, renderModulesLoadConf, renderSysctlConf } from "./sysctl";
import { gatewayPairUnits, gatewayUnits, KILO_CONNECT_UNIT, LEADERSHIP_TIMER_UNIT, renderSystemdUnit } from "./units";
import { renderUplinkConfig, uplinkUnitName } from "./uplink";

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

/**
 * One gateway of an active/standby pair: the two are rendered from the same plan and hold the same secrets, and the
 * holder of the pair's Lease forwards (infra/gateway/leadership.ts, role.ts). Their cloud-inits differ in `identity`
 * only.
 */
export interface GatewayPairMember {
  /** This gateway's holderIdentity in the Lease. */
  readonly identity: string;
  /** The Lease the two contend for, in the namespace of the gateway's ServiceAccount. */
  readonly leaseName: string;
  readonly leaseNamespace: string;
  /** Zone of the flexible IP and of both servers (Instance IPs are zonal). */
  readonly zone: string;
  /** The shared flexible IP: its ID (a UUID, without the provider's zone prefix) and its address. */
  readonly sharedIpId: string;
  readonly sharedAddress: string;
  /** Where the active puts the shared address. Default: `GATEWAY_HOST.publicInterface`. */
  readonly publicInterface?: string;
}

/** The pair's own secret: the secret key of its IAM application's API key, with which the role hook moves the IP. */
export interface GatewayPairSecrets {
  readonly scalewaySecretKey: string;
}

/** What a pair member's cloud-init adds to the single gateway's. */
export interface GatewayPairCloudInit {
  readonly member: GatewayPairMember;
  readonly secrets: GatewayPairSecrets;
}

/** The units that forward device traffic: on a pair, only the active runs them. */
export function forwardingUnits(options: GatewayPlan): string[] {
  return [uplinkUnitName(options), KILO_CONNECT_UNIT];
}

/** The leadership agent's options of a pair member: client-go's default timings, the role hook as both hooks. */
export function gatewayPairLeadershipOptions(member: GatewayPairMember, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): GatewayLeadershipOptions {
  return {
    leaseName: member.leaseName,
    namespace: member.leaseNamespace,
    identity: member.identity,
    onActive: [paths.roleScript, "active"],
    onStandby: [paths.roleScript, "standby"],
  };
}

/** The role hook's options of a pair member: the flexible IP, and the forwarding units started or stopped. */
export function gatewayPairRoleOptions(options: GatewayPlan, member: GatewayPairMember, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): GatewayRoleOptions {
  const units = forwardingUnits(options);
  return {
    zone: member.zone,
    sharedIpId: member.sharedIpId,
    sharedAddress: member.sharedAddress,
    publicInterface: member.publicInterface ?? GATEWAY_HOST.publicInterface,
    startForwarding: [paths.systemctl, "start", ...units],
    stopForwarding: [paths.systemctl, "stop", ...units],
  };
}

/**
 * The first-boot script of a pair member: the single gateway's, except that it neither enables nor starts the
 * forwarding units (the leadership agent starts them on the active only: enabled, they would come up on both at every
 * boot) and that it starts the leadership agent's timer. The steering agent runs on both.
 */
export function renderPairBootstrapScript(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  const forwarding = new Set(forwardingUnits(options));
  const parameters = bootstrapParameters(options, paths).map((parameter) =>
    parameter.name === "UNITS" && Array.isArray(parameter.value)
      ? { ...parameter, value: [...parameter.value.filter((unit) => !forwarding.has(unit)), LEADERSHIP_TIMER_UNIT] }
      : parameter,
  );
  return withShellParameters(readGatewayScript("first-boot.sh"), parameters);
}

/**
 * Every file the gateway VM gets, with its mode: secrets (kubeconfig, private keys, the pair's API key) 0600, scripts
 * 0755. A pair member gets the leadership agent, the role hook and the API key besides, and its own units.
 */
export function gatewayFiles(
  options: GatewayPlan,
  secrets: GatewaySecrets,
  paths: GatewayPaths = DEFAULT_GATEWAY_PATHS,
  pair?: GatewayPairCloudInit,
): CloudInitFile[] {
  const file = (path: string, content: string, permissions: CloudInitFile["permissions"]): CloudInitFile => ({
    path,
    content,
    owner: "root:root",
    permissions,
    defer: true,
  });
  const leadership = pair === undefined ? undefined : gatewayPairLeadershipOptions(pair.member, paths);
  const units = leadership === undefined ? gatewayUnits(options, paths) : gatewayPairUnits(options, resolveGatewayLeadership(leadership), paths);
  const pairFiles =
    pair === undefined || leadership === undefined
      ? []
      : [
          file(paths.leadershipAgentScript, renderLeadershipAgentScript(leadership, paths), "0755"),
          file(paths.roleScript, renderGatewayRoleScript(gatewayPairRoleOptions(options, pair.member, paths)), "0755"),
        ];
  return [
    file(paths.kubeconfig, secrets.kubeconfig, "0600"),
    // kgctl parses the file as exactly one base64 key: a trailing newline makes it fail.
    file(paths.kiloPrivateKey, secrets.kiloPrivateKey, "0600"),
    ...(pair === undefined ? [] : [file(DEFAULT_ROLE_PATHS.secretKeyFile, pair.secrets.scalewaySecretKey, "0600")]),
    file(`${paths.wireguardDir}/${options.uplink.interfaceName}.conf`, renderUplinkConfig(options, secrets.uplinkPrivateKey), "0600"),
    file(paths.nftablesConf, renderGatewayRuleset(options), "0755"),
    file(paths.sysctlConf, renderSysctlConf(options), "0644"),
    file(paths.modprobeConf, renderConntrackModprobeConf(options), "0644"),
    file(paths.modulesLoadConf, renderModulesLoadConf(), "0644"),
    file(paths.steeringProgram, readGatewayScript("steering-targets.jq"), "0644"),
    file(paths.steeringAgentScript, renderSteeringAgentScript(options, paths), "0755"),
    ...pairFiles,
    file(paths.bootstrapScript, pair === undefined ? renderBootstrapScript(options, paths) : renderPairBootstrapScript(options, paths), "0755"),
    file(paths.nodeExporterDefaults, renderNodeExporterDefaults(options, paths), "0644"),
    ...units.map((unit) => file(`${paths.systemdUnitDir}/${unit.name}`, renderSystemdUnit(unit), "0644")),
  ];
}

export function buildGatewayCloudConfig(
  options: GatewayPlan,
  secrets: GatewaySecrets,
  paths: GatewayPaths = DEFAULT_GATEWAY_PATHS,
  pair?: GatewayPairCloudInit,
): GatewayCloudConfig {
  return {
    package_update: true,
    packages: [...GATEWAY_PACKAGES],
    ntp: { enabled: true, ntp_client: "chrony" },
    write_files: gatewayFiles(options, secrets, paths, pair),
    runcmd: [[paths.bootstrapScript]],
  };
}

/** Serialises a cloud-config object; the first line must be `#cloud-config` for cloud-init to read it as such. */
export function serializeCloudConfig(config: GatewayCloudConfig): string {
  return `#cloud-config\n${stringify(config, { lineWidth: 0, blockQuote: "literal" })}`;
}

/** Scaleway's secret keys are UUIDs; anything else would only fail at the first takeover, with a 401. */
const SCALEWAY_SECRET_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The gateway VM's cloud-init user data; with `pair`, that of one gateway of an active/standby pair. It carries the
 * kubeconfig, private keys and the pair's API key in clear: the caller must keep the result secret. Throws a PlanError
 * when a secret is not what kgctl, wg-quick and the Instance API can read (without repeating it), or when the pair's
 * leadership or role options do not resolve.
 */
export function renderGatewayCloudInit(plan: GatewayPlan, secrets: GatewaySecrets, pair?: GatewayPairCloudInit): string {
  checkGatewaySecrets(secrets);
  if (pair !== undefined) {
    const problems = new Problems();
    if (!SCALEWAY_SECRET_KEY.test(pair.secrets.scalewaySecretKey)) problems.add("scalewaySecretKey", "is not a Scaleway secret key (a lower case UUID)");
    problems.throwIfAny("gateway pair secrets");
  }
  return serializeCloudConfig(buildGatewayCloudConfig(plan, secrets, DEFAULT_GATEWAY_PATHS, pair));
}
