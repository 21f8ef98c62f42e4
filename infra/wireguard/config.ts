import ipaddr from "ipaddr.js";
import { decodeKey } from "./keys";

/** The `[Interface]` section of a wg-quick(8) configuration. */
export interface WireguardInterfaceConfig {
  /** Base64 private key. */
  readonly privateKey: string;
  /** Addresses of the interface in CIDR form (wg-quick `Address`). */
  readonly addresses?: readonly string[];
  /** UDP port to listen on; omitted means a random port chosen by the kernel. */
  readonly listenPort?: number;
  readonly mtu?: number;
  /** wg-quick `Table`: `off` disables the routes wg-quick derives from the peers' AllowedIPs. */
  readonly table?: "auto" | "off" | number;
}

/** One `[Peer]` section. */
export interface WireguardPeerConfig {
  /** Written as a comment above the section, to tell peers apart when reading the file. */
  readonly name?: string;
  readonly publicKey: string;
  readonly presharedKey?: string;
  /** CIDRs routed to and accepted from this peer (cryptokey routing). */
  readonly allowedIps: readonly string[];
  readonly endpoint?: WireguardEndpoint;
  /** Seconds between keepalives; 0 or absent disables them. */
  readonly persistentKeepalive?: number;
}

export interface WireguardEndpoint {
  /** IPv4 or IPv6 address, or a DNS name. */
  readonly host: string;
  readonly port: number;
}

export interface WireguardConfig {
  readonly interface: WireguardInterfaceConfig;
  readonly peers: readonly WireguardPeerConfig[];
}

export class WireguardConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid WireGuard configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "WireguardConfigError";
  }
}

const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Renders a wg-quick(8) configuration file; throws `WireguardConfigError` listing every invalid field. */
export function renderWireguardConfig(config: WireguardConfig): string {
  const problems = validateWireguardConfig(config);
  if (problems.length > 0) {
    throw new WireguardConfigError(problems);
  }
  const iface = config.interface;
  const lines = ["[Interface]", `PrivateKey = ${iface.privateKey}`];
  if (iface.addresses !== undefined && iface.addresses.length > 0) {
    lines.push(`Address = ${iface.addresses.join(", ")}`);
  }
  if (iface.listenPort !== undefined) lines.push(`ListenPort = ${iface.listenPort}`);
  if (iface.mtu !== undefined) lines.push(`MTU = ${iface.mtu}`);
  if (iface.table !== undefined) lines.push(`Table = ${iface.table}`);
  for (const peer of config.peers) {
    lines.push("");
    if (peer.name !== undefined) lines.push(`# ${peer.name}`);
    lines.push("[Peer]", `PublicKey = ${peer.publicKey}`);
    if (peer.presharedKey !== undefined) lines.push(`PresharedKey = ${peer.presharedKey}`);
    lines.push(`AllowedIPs = ${peer.allowedIps.join(", ")}`);
    if (peer.endpoint !== undefined) lines.push(`Endpoint = ${formatEndpoint(peer.endpoint)}`);
    if (peer.persistentKeepalive !== undefined && peer.persistentKeepalive > 0) {
      lines.push(`PersistentKeepalive = ${peer.persistentKeepalive}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** `host:port`, with IPv6 addresses in brackets as wg(8) expects. */
export function formatEndpoint(endpoint: WireguardEndpoint): string {
  return ipaddr.IPv6.isValid(endpoint.host) ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/** Every problem in the configuration, each naming its field; empty when the configuration is valid. */
export function validateWireguardConfig(config: WireguardConfig): string[] {
  const problems: string[] = [];
  const iface = config.interface;
  checkKey(iface.privateKey, "interface.privateKey", problems);
  (iface.addresses ?? []).forEach((address, i) => {
    if (!ipaddr.isValidCIDR(address)) problems.push(`interface.addresses[${i}]: not a CIDR`);
  });
  if (iface.listenPort !== undefined) checkPort(iface.listenPort, "interface.listenPort", problems);
  if (iface.mtu !== undefined && !(Number.isInteger(iface.mtu) && iface.mtu >= 1280 && iface.mtu <= 9000)) {
    problems.push("interface.mtu: must be an integer from 1280 to 9000");
  }
  if (typeof iface.table === "number" && !(Number.isInteger(iface.table) && iface.table > 0)) {
    problems.push("interface.table: must be auto, off or a positive routing table number");
  }
  const publicKeys = new Set<string>();
  config.peers.forEach((peer, i) => {
    const at = `peers[${i}]`;
    if (peer.name !== undefined && !/^[^\n\r]+$/.test(peer.name)) problems.push(`${at}.name: must be one line`);
    checkKey(peer.publicKey, `${at}.publicKey`, problems);
    if (publicKeys.has(peer.publicKey)) problems.push(`${at}.publicKey: used by another peer`);
    publicKeys.add(peer.publicKey);
    if (peer.presharedKey !== undefined) checkKey(peer.presharedKey, `${at}.presharedKey`, problems);
    if (peer.allowedIps.length === 0) problems.push(`${at}.allowedIps: must not be empty`);
    peer.allowedIps.forEach((cidr, j) => {
      if (!ipaddr.isValidCIDR(cidr)) problems.push(`${at}.allowedIps[${j}]: not a CIDR`);
    });
    if (peer.endpoint !== undefined) {
      if (!ipaddr.isValid(peer.endpoint.host) && !DNS_NAME.test(peer.endpoint.host)) {
        problems.push(`${at}.endpoint.host: not an IP address or DNS name`);
      }
      checkPort(peer.endpoint.port, `${at}.endpoint.port`, problems);
    }
    const keepalive = peer.persistentKeepalive;
    if (keepalive !== undefined && !(Number.isInteger(keepalive) && keepalive >= 0 && keepalive <= 65535)) {
      problems.push(`${at}.persistentKeepalive: must be an integer from 0 to 65535`);
    }
  });
  return problems;
}

function checkKey(key: string, field: string, problems: string[]): void {
  try {
    decodeKey(key);
  } catch (error) {
    problems.push(`${field}: ${(error as Error).message}`);
  }
}

function checkPort(port: number, field: string, problems: string[]): void {
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) problems.push(`${field}: must be an integer from 1 to 65535`);
}
