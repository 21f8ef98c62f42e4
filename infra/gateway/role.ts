import { isIpv4Address } from "../network";
import { Problems } from "../problems";
import { readGatewayScript } from "./script-files";
import { withShellParameters, type ShellParameter } from "./shell-parameters";

/*
 * The role hook of the gateway pair (scripts/gateway-role.sh): what the leadership agent runs to make this gateway the
 * active one (the flexible IP routed here, WireGuard up) or a standby (WireGuard down, the address gone).
 */

/** The Scaleway API the hook moves the flexible IP through. */
export const SCALEWAY_API_URL = "https://api.scaleway.com";
/** Seconds one Instance API call may take: the hook runs inside a leadership step, which runs every few seconds. */
export const ROLE_API_TIMEOUT_SECONDS = 5;
/** How long the active trusts its record that the flexible IP is routed to it before it asks the API again. */
export const ROLE_RECHECK_SECONDS = 60;

export interface GatewayRoleOptions {
  /** Zone of the flexible IP and of both servers (Instance IPs are zonal: /instance/v1/zones/{zone}/ips/{id}). */
  readonly zone: string;
  /** The flexible IP's ID (a UUID, without the zone prefix the provider's IDs carry). */
  readonly sharedIpId: string;
  /** Its address: the gateway's public address, which the concentrators and the Kilo Peer use. */
  readonly sharedAddress: string;
  /** The interface the address goes on. */
  readonly publicInterface: string;
  /** Run (argv) when this gateway becomes or stays active: bring the WireGuard interfaces up. Idempotent. */
  readonly startForwarding: readonly string[];
  /** Run (argv) when it stands by: bring them down. Idempotent, and must work without any network. */
  readonly stopForwarding: readonly string[];
  /** Default: SCALEWAY_API_URL. */
  readonly apiUrl?: string;
}

/** Where the hook finds its tools, this server's ID, the API key and its run state. */
export interface GatewayRolePaths {
  readonly curl: string;
  readonly ip: string;
  readonly jq: string;
  /** cloud-init's record of the instance ID (the Scaleway server ID). */
  readonly serverIdFile: string;
  /** The IAM application's secret key (mode 0600). */
  readonly secretKeyFile: string;
  /** Not persistent: after a reboot the hook asks the API again. */
  readonly runDir: string;
}

export const DEFAULT_ROLE_PATHS: GatewayRolePaths = {
  curl: "/usr/bin/curl",
  ip: "/usr/sbin/ip",
  jq: "/usr/bin/jq",
  serverIdFile: "/var/lib/cloud/data/instance-id",
  secretKeyFile: "/etc/iot-gateway/scaleway-secret-key",
  runDir: "/run/iot-gateway-role",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZONE = /^[a-z]{2}-[a-z]{3}-[1-9]$/;
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Checks the options, every problem at once, each at its option's name. */
export function checkGatewayRoleOptions(options: GatewayRoleOptions): void {
  const problems = new Problems();
  if (!ZONE.test(options.zone)) problems.add("zone", `must be a Scaleway zone such as fr-par-1, got ${JSON.stringify(options.zone)}`);
  if (!UUID.test(options.sharedIpId)) problems.add("sharedIpId", `must be the flexible IP's ID (a lower case UUID, no zone prefix), got ${JSON.stringify(options.sharedIpId)}`);
  if (!isIpv4Address(options.sharedAddress)) problems.add("sharedAddress", `must be an IPv4 address, got ${JSON.stringify(options.sharedAddress)}`);
  if (!INTERFACE.test(options.publicInterface)) problems.add("publicInterface", `must be an interface name (at most 15 characters), got ${JSON.stringify(options.publicInterface)}`);
  for (const name of ["startForwarding", "stopForwarding"] as const) {
    if (options[name].length === 0 || options[name][0] === "") problems.add(name, "must be a command: a non-empty argv whose first word names the program");
  }
  const apiUrl = options.apiUrl ?? SCALEWAY_API_URL;
  if (!/^https?:\/\/[^\s/]+$/.test(apiUrl)) problems.add("apiUrl", `must be a scheme and host without a path, got ${JSON.stringify(apiUrl)}`);
  problems.throwIfAny("gateway role");
}

/** The variables scripts/gateway-role.sh reads. */
export function gatewayRoleParameters(options: GatewayRoleOptions, paths: GatewayRolePaths = DEFAULT_ROLE_PATHS): ShellParameter[] {
  checkGatewayRoleOptions(options);
  return [
    { name: "CURL", value: paths.curl },
    { name: "IP", value: paths.ip },
    { name: "JQ", value: paths.jq },
    { name: "API_URL", value: options.apiUrl ?? SCALEWAY_API_URL },
    { name: "API_TIMEOUT", value: ROLE_API_TIMEOUT_SECONDS, comment: "seconds" },
    { name: "RECHECK_SECONDS", value: ROLE_RECHECK_SECONDS, comment: "seconds" },
    { name: "ZONE", value: options.zone },
    { name: "SHARED_IP_ID", value: options.sharedIpId },
    { name: "SHARED_ADDRESS", value: options.sharedAddress },
    { name: "PUBLIC_INTERFACE", value: options.publicInterface },
    { name: "SERVER_ID_FILE", value: paths.serverIdFile },
    { name: "SECRET_KEY_FILE", value: paths.secretKeyFile },
    { name: "RUN_DIR", value: paths.runDir },
    { name: "START_FORWARDING", value: options.startForwarding },
    { name: "STOP_FORWARDING", value: options.stopForwarding },
  ];
}

/** The role hook as a gateway gets it: scripts/gateway-role.sh with its parameters rendered in. */
export function renderGatewayRoleScript(options: GatewayRoleOptions, paths: GatewayRolePaths = DEFAULT_ROLE_PATHS): string {
  return withShellParameters(readGatewayScript("gateway-role.sh"), gatewayRoleParameters(options, paths));
}
