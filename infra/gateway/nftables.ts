import type { GatewayPlan } from "./plan";

/*
 * A small typed model of an nftables ruleset, rendered to the text `nft -f` reads. Rules stay one line of nft
 * syntax each: the model gives the file its structure and lets tests and the steering update name the same
 * tables, chains and maps.
 */

export type NftFamily = "ip" | "inet";

export interface NftSet {
  readonly name: string;
  readonly type: "ipv4_addr";
  /** CIDRs; an empty set is declared without elements. */
  readonly elements: readonly string[];
}

export interface NftMap {
  readonly name: string;
  /** The `typeof` key and value expressions, e.g. `numgen inc mod 256 : ip daddr`. */
  readonly typeOf: string;
}

export interface NftHook {
  readonly type: "filter" | "nat";
  readonly hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  readonly priority: "raw" | "mangle" | "dstnat" | "filter" | "security" | "srcnat";
  readonly policy: "accept" | "drop";
}

export interface NftRule {
  /** nft rule syntax without the comment. */
  readonly match: string;
  /** Kept in the loaded ruleset, so `nft list ruleset` explains itself. */
  readonly comment?: string;
}

export interface NftChain {
  readonly name: string;
  /** Base chains hook into the kernel; regular chains are reached by `jump`. */
  readonly hook?: NftHook;
  readonly rules: readonly NftRule[];
}

/** A named counter: rules add to it with `counter name "<name>"`, and `nft -j list counters` reads it by name. */
export interface NftCounter {
  readonly name: string;
  readonly comment: string;
}

export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
  /** Named counters, declared first; the steering agent exports them as metrics. */
  readonly counters?: readonly NftCounter[];
  readonly sets: readonly NftSet[];
  readonly maps: readonly NftMap[];
  readonly chains: readonly NftChain[];
}

/** The tables, chains and map the steering update rewrites. */
export const FILTER_TABLE = "iot_gateway_filter";
export const NAT_TABLE = "iot_gateway_nat";
export const STEER_CHAIN = "steer";
export const STEER_MAP = "steer_buckets";

/**
 * Named counters of the data path, read by the steering agent's metrics (scripts/gateway-metrics.jq): a counter whose
 * name starts with `drop_` counts forward-chain drops for the reason after the prefix.
 */
export const NFT_COUNTERS = {
  steeredDatagrams: "steered_datagrams",
  steeredFlows: "steered_flows",
  dropInvalid: "drop_invalid",
  dropFromUplink: "drop_from_uplink",
  dropFromCluster: "drop_from_cluster",
  dropOther: "drop_other",
} as const;

/** Reasons of forward-chain drops, as the `reason` label of iot_gateway_forward_dropped_packets_total. */
export const FORWARD_DROP_REASONS = ["invalid", "from_uplink", "from_cluster", "other"] as const;

/**
 * Renders a file for `nft -f`. Each table is created empty and deleted before it is defined, so loading the file
 * again replaces exactly these tables and leaves any other table alone (unlike `flush ruleset`).
 */
export function renderNftRuleset(tables: readonly NftTable[]): string {
  const out: string[] = ["#!/usr/sbin/nft -f", ""];
  for (const table of tables) {
    out.push(`add table ${table.family} ${table.name}`, `delete table ${table.family} ${table.name}`);
  }
  for (const table of tables) {
    out.push("", `table ${table.family} ${table.name} {`);
    const blocks: string[][] = [];
    for (const counter of table.counters ?? []) {
      blocks.push([`\tcounter ${counter.name} {`, `\t\tcomment ${quote(counter.comment)}`, "\t}"]);
    }
    for (const set of table.sets) {
      // auto-merge: overlapping CIDRs (say a /24 and a /32 in it) are merged instead of rejected.
      const lines = [`\tset ${set.name} {`, `\t\ttype ${set.type}`, "\t\tflags interval", "\t\tauto-merge"];
      if (set.elements.length > 0) lines.push(`\t\telements = { ${set.elements.join(", ")} }`);
      lines.push("\t}");
      blocks.push(lines);
    }
    for (const map of table.maps) {
      blocks.push([`\tmap ${map.name} {`, `\t\ttypeof ${map.typeOf}`, "\t}"]);
    }
    for (const chain of table.chains) {
      const lines = [`\tchain ${chain.name} {`];
      if (chain.hook !== undefined) {
        const hook = chain.hook;
        lines.push(`\t\ttype ${hook.type} hook ${hook.hook} priority ${hook.priority}; policy ${hook.policy};`);
      }
      for (const rule of chain.rules) {
        lines.push(`\t\t${rule.match}${rule.comment === undefined ? "" : ` comment ${quote(rule.comment)}`}`);
      }
      lines.push("\t}");
      blocks.push(lines);
    }
    blocks.forEach((lines, i) => {
      if (i > 0) out.push("");
      out.push(...lines);
    });
    out.push("}");
  }
  return `${out.join("\n")}\n`;
}

function quote(text: string): string {
  if (!/^[^"\\\n]{1,128}$/.test(text)) throw new Error(`nft comment must be one line of at most 128 characters without quotes: ${text}`);
  return `"${text}"`;
}

/** Every address and port the gateway's own ruleset names, derived from the options. */
export function buildGatewayRuleset(options: GatewayPlan): NftTable[] {
  const uplink = `"${options.uplink.interfaceName}"`;
  const kilo = `"${options.kilo.interfaceName}"`;
  const concentratorSources = [...new Set(options.uplink.concentrators.flatMap((c) => c.sourceCidrs))];
  const ingress = options.ingress;

  const input: NftRule[] = [
    { match: 'iif "lo" accept' },
    { match: "ct state established,related accept" },
    { match: "ct state invalid drop" },
    { match: `udp dport ${options.kilo.listenPort} accept`, comment: "Kilo mesh WireGuard" },
    {
      match: `ip saddr @concentrators udp dport ${options.uplink.listenPort} accept`,
      comment: "device uplink WireGuard, from the concentrators only",
    },
    { match: "ip saddr @admin_cidrs tcp dport 22 accept", comment: "SSH from the admin CIDRs only" },
    {
      match: `iifname ${kilo} tcp dport ${options.metrics.nodeExporterPort} accept`,
      comment: "node exporter, from the cluster through the Kilo mesh only",
    },
    { match: "udp sport 67 udp dport 68 accept", comment: "DHCP replies for the instance's own address" },
    { match: "icmp type { echo-request, destination-unreachable, time-exceeded } limit rate 10/second burst 20 packets accept" },
    {
      match:
        "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, echo-request, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } limit rate 10/second burst 20 packets accept",
    },
  ];

  // Only what the data path needs crosses the gateway (conntrack decides; the policy drops the rest):
  //  - device -> cluster: UDP datagrams the steering DNAT rewrote, i.e. whose original destination was the ingress
  //    address and port. Nothing else from the device side (no TCP, no UDP straight to a pod or a node);
  //  - cluster -> device: replies of those steered flows, and downlinks: UDP from the pod CIDR to the devices'
  //    downlink ports (none when no port is configured);
  //  - ICMP errors related to an allowed flow, both ways (port unreachable, fragmentation needed, TTL exceeded).
  const steered = `ct status dnat ct original ip daddr ${ingress.address} ct original proto-dst ${ingress.port}`;
  const c = NFT_COUNTERS;
  const forward: NftRule[] = [
    { match: `ct state invalid counter name "${c.dropInvalid}" drop` },
    {
      match: `iifname ${uplink} oifname ${kilo} ip saddr @device_subnets meta l4proto udp ${steered} counter name "${c.steeredDatagrams}" accept`,
      comment: "device datagrams the steering DNAT rewrote, and nothing else",
    },
    {
      match: `iifname ${kilo} oifname ${uplink} ip daddr @device_subnets meta l4proto udp ct direction reply ${steered} accept`,
      comment: "replies of steered flows",
    },
    ...(options.downlinkPorts.length === 0
      ? []
      : [
          {
            match: `iifname ${kilo} oifname ${uplink} ip saddr ${options.podCidr} ip daddr @device_subnets udp dport ${nftPortSet(options.downlinkPorts)} ct direction original accept`,
            comment: "downlinks from pods to the devices' downlink ports",
          },
        ]),
    {
      match: `iifname ${uplink} oifname ${kilo} ct state related icmp type { destination-unreachable, time-exceeded, parameter-problem } accept`,
      comment: "ICMP errors about allowed flows",
    },
    {
      match: `iifname ${kilo} oifname ${uplink} ct state related icmp type { destination-unreachable, time-exceeded, parameter-problem } accept`,
      comment: "ICMP errors about allowed flows",
    },
    // What the policy would drop anyway, dropped here so that the drops are counted by where they came from.
    { match: `iifname ${uplink} counter name "${c.dropFromUplink}" drop`, comment: "not a steered device datagram" },
    { match: `iifname ${kilo} counter name "${c.dropFromCluster}" drop`, comment: "not a reply, downlink or ICMP error" },
    { match: `counter name "${c.dropOther}" drop` },
  ];

  const filterChains: NftChain[] = [
    { name: "input", hook: { type: "filter", hook: "input", priority: "filter", policy: "drop" }, rules: input },
    { name: "forward", hook: { type: "filter", hook: "forward", priority: "filter", policy: "drop" }, rules: forward },
  ];
  if (options.downlinkSourceRewrite) {
    // Stateless on purpose: a stateful SNAT to the ingress address and port would produce the same tuple as the
    // device's own uplink flow, and the kernel would then pick another source port to keep the tuples unique.
    filterChains.push({
      name: "downlink_source",
      hook: { type: "filter", hook: "postrouting", priority: "srcnat", policy: "accept" },
      rules: [
        {
          match: `oifname ${uplink} ip saddr ${options.podCidr} ip daddr @device_subnets udp sport set ${ingress.port} ip saddr set ${ingress.address}`,
          comment: "cluster to device only: source becomes the ingress address and port",
        },
      ],
    });
  }

  return [
    {
      family: "inet",
      name: FILTER_TABLE,
      counters: [
        { name: c.steeredDatagrams, comment: "device datagrams forwarded to an ingress node" },
        { name: c.dropInvalid, comment: "forward drops: conntrack state invalid" },
        { name: c.dropFromUplink, comment: "forward drops: from the device uplink, not steered" },
        { name: c.dropFromCluster, comment: "forward drops: from the Kilo mesh, not allowed" },
        { name: c.dropOther, comment: "forward drops: any other interface" },
      ],
      sets: [
        { name: "device_subnets", type: "ipv4_addr", elements: options.deviceSubnets },
        { name: "concentrators", type: "ipv4_addr", elements: concentratorSources },
        { name: "admin_cidrs", type: "ipv4_addr", elements: options.adminCidrs },
      ],
      maps: [],
      chains: filterChains,
    },
    {
      family: "ip",
      name: NAT_TABLE,
      // Only a flow's first datagram passes a nat chain, so this counts new device flows, not datagrams.
      counters: [{ name: c.steeredFlows, comment: "device flows steered (first datagram of each)" }],
      sets: [],
      maps: [{ name: STEER_MAP, typeOf: `numgen inc mod ${options.steering.buckets} : ip daddr` }],
      chains: [
        {
          name: "prerouting",
          hook: { type: "nat", hook: "prerouting", priority: "dstnat", policy: "accept" },
          rules: [
            {
              match: `iifname ${uplink} ip daddr ${ingress.address} udp dport ${ingress.port} counter name "${c.steeredFlows}" jump ${STEER_CHAIN}`,
              comment: "device datagrams to the ingress address; no source NAT anywhere",
            },
          ],
        },
        // Filled by the steering agent (scripts/steering-transaction.jq); empty until the first ingress node qualifies.
        { name: STEER_CHAIN, rules: [] },
      ],
    },
  ];
}

/** An nft set expression for ports: one port bare, several as `{ a, b-c }` with consecutive runs as ranges. */
export function nftPortSet(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  if (sorted.length === 0) throw new Error("an nft port set needs at least one port");
  if (sorted.length === 1) return String(sorted[0]);
  const runs: string[] = [];
  let start = sorted[0];
  let end = start;
  for (const port of [...sorted.slice(1), Number.NaN]) {
    if (port === end + 1) {
      end = port;
      continue;
    }
    runs.push(start === end ? String(start) : `${start}-${end}`);
    start = end = port;
  }
  return `{ ${runs.join(", ")} }`;
}

/** The gateway's `/etc/nftables.conf`. */
export function renderGatewayRuleset(options: GatewayPlan): string {
  return renderNftRuleset(buildGatewayRuleset(options));
}
