import type { GatewayPlan } from "./plan";

/** Smallest connection tracking table the gateway runs with, whatever the device count. */
export const MIN_CONNTRACK_MAX = 65_536;

/**
 * Connection tracking entries for `deviceCount` devices: each device can hold two UDP flows at once (its uplink
 * flow to the ingress address, and a downlink flow from a decoder pod), so devices x 2, with a floor of 65536,
 * rounded up to a power of two (the kernel's hash table sizes are powers of two).
 */
export function conntrackMaxFor(deviceCount: number): number {
  const needed = Math.max(MIN_CONNTRACK_MAX, Math.ceil(deviceCount * 2));
  return 2 ** Math.ceil(Math.log2(needed));
}

/** Hash buckets for the table: a quarter of the maximum keeps chains short at full load (the kernel default is 1/4 too on big hosts). */
export function conntrackBucketsFor(conntrackMax: number): number {
  return conntrackMax / 4;
}

/**
 * UDP flow timeout: half the report interval, between 10 s and 60 s. Shorter than the interval on purpose: every
 * report then opens a new flow that follows the current steering map (stickiness comes from the hash, not from
 * connection tracking), so a node that joins gets its share at once and the table holds recently active devices
 * only; 10 s still covers a device's retransmissions within one report.
 */
export function udpTimeoutFor(reportIntervalSeconds: number): number {
  return Math.min(60, Math.max(10, Math.ceil(reportIntervalSeconds / 2)));
}

export interface Sysctl {
  readonly key: string;
  readonly value: number;
  /** Why the value is set, written above it. */
  readonly reason: string;
}

export function gatewaySysctls(options: GatewayPlan): Sysctl[] {
  const conntrackMax = conntrackMaxFor(options.devices.expectedCount);
  const udpTimeout = udpTimeoutFor(options.devices.reportIntervalSeconds);
  const buffers = options.networkBuffers;
  return [
    { key: "net.ipv4.ip_forward", value: 1, reason: "route device traffic between the uplink and the Kilo mesh" },
    {
      key: "net.ipv4.conf.all.rp_filter",
      value: 2,
      reason: "loose reverse-path filter: device and pod ranges are reached through two WireGuard interfaces",
    },
    { key: "net.ipv4.conf.default.rp_filter", value: 2, reason: "same for interfaces created later (kilo0, the uplink)" },
    {
      key: "net.netfilter.nf_conntrack_max",
      value: conntrackMax,
      reason: `${options.devices.expectedCount} devices x 2 flows, at least ${MIN_CONNTRACK_MAX}, rounded up to a power of two`,
    },
    {
      key: "net.netfilter.nf_conntrack_udp_timeout",
      value: udpTimeout,
      reason: `half the ${options.devices.reportIntervalSeconds} s report interval (10-60 s): each report follows the current steering map`,
    },
    { key: "net.netfilter.nf_conntrack_udp_timeout_stream", value: udpTimeout, reason: "same for flows that saw a reply" },
    { key: "net.core.rmem_max", value: buffers.rmemMax, reason: "room for bursts of small datagrams" },
    { key: "net.core.wmem_max", value: buffers.wmemMax, reason: "room for bursts of small datagrams" },
    { key: "net.core.rmem_default", value: buffers.rmemDefault, reason: "WireGuard's kernel sockets use the defaults" },
    { key: "net.core.wmem_default", value: buffers.wmemDefault, reason: "WireGuard's kernel sockets use the defaults" },
    { key: "net.core.netdev_max_backlog", value: buffers.netdevMaxBacklog, reason: "queue bursts instead of dropping them" },
  ];
}

/** The sysctl.d(5) file. */
export function renderSysctlConf(options: GatewayPlan): string {
  const lines = ["# IoT UDP ingress gateway"];
  for (const sysctl of gatewaySysctls(options)) {
    lines.push(`# ${sysctl.reason}`, `${sysctl.key} = ${sysctl.value}`);
  }
  return `${lines.join("\n")}\n`;
}

/** modprobe.d(5) options: the hash table size of nf_conntrack is a module parameter. */
export function renderConntrackModprobeConf(options: GatewayPlan): string {
  const buckets = conntrackBucketsFor(conntrackMaxFor(options.devices.expectedCount));
  return `# Hash buckets for the connection tracking table (a quarter of nf_conntrack_max)\noptions nf_conntrack hashsize=${buckets}\n`;
}

/** modules-load.d(5): nf_conntrack must be loaded before systemd-sysctl applies its net.netfilter keys. */
export function renderModulesLoadConf(): string {
  return "# Load connection tracking before sysctls so net.netfilter.* keys exist\nnf_conntrack\n";
}
