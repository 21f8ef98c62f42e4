import * as ipaddr from "ipaddr.js";

/** An IPv4 network in canonical form: the address is the network address of the prefix. */
export interface Ipv4Network {
  readonly address: string;
  readonly prefixLength: number;
}

/** Kilo's WireGuard subnet on Kosmos; node Kilo IPs are allocated from it and reassigned as nodes change. */
export const KILO_SUBNET = "10.4.0.0/16";

/**
 * Parses `a.b.c.d/n`. Host bits must be zero: a device subnet written as `10.1.2.3/16` is almost always a typo,
 * and WireGuard `AllowedIPs` or nftables would silently widen it.
 */
export function parseIpv4Cidr(text: string): Ipv4Network {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!match || !ipaddr.IPv4.isValidFourPartDecimal(match[1])) {
    throw new Error(`"${text}" is not an IPv4 CIDR like 10.128.0.0/14`);
  }
  const prefixLength = Number(match[2]);
  if (prefixLength > 32) {
    throw new Error(`"${text}" has a prefix length above 32`);
  }
  const network = ipaddr.IPv4.networkAddressFromCIDR(text).toString();
  if (network !== match[1]) {
    throw new Error(`"${text}" has host bits set; the network is ${network}/${prefixLength}`);
  }
  return { address: network, prefixLength };
}

export function isIpv4Cidr(text: string): boolean {
  try {
    parseIpv4Cidr(text);
    return true;
  } catch {
    return false;
  }
}

export function isIpv4Address(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text) && ipaddr.IPv4.isValidFourPartDecimal(text);
}

export function formatCidr(network: Ipv4Network): string {
  return `${network.address}/${network.prefixLength}`;
}

/** The range as [first, last] 32-bit unsigned integers. */
export function ipv4Range(network: Ipv4Network): [number, number] {
  const first = ipv4ToInt(network.address);
  const size = 2 ** (32 - network.prefixLength);
  return [first, first + size - 1];
}

export function ipv4ToInt(address: string): number {
  return ipaddr.IPv4.parse(address).octets.reduce((value, octet) => value * 256 + octet, 0);
}

/** Two prefixes overlap exactly when one contains the other's network address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const [aFirst, aLast] = ipv4Range(parseIpv4Cidr(a));
  const [bFirst, bLast] = ipv4Range(parseIpv4Cidr(b));
  return aFirst <= bLast && bFirst <= aLast;
}

export function cidrContainsAddress(cidr: string, address: string): boolean {
  const network = parseIpv4Cidr(cidr);
  return ipaddr.IPv4.parse(address).match(ipaddr.IPv4.parse(network.address), network.prefixLength);
}

/** Number of addresses in the prefix (including network and broadcast addresses). */
export function cidrSize(cidr: string): number {
  return 2 ** (32 - parseIpv4Cidr(cidr).prefixLength);
}

/** The dotted form of a 32-bit unsigned integer. */
export function intToIpv4(value: number): string {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) throw new Error(`${value} is not a 32-bit address`);
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * The first host address of a prefix (network + 1), as the CNI bridge plugin picks the gateway of a node's pod subnet
 * (containernetworking/plugins plugins/ipam/host-local/backend/allocator/range.go `Canonicalize`: "If the gateway is
 * nil, claim .1"). Host bits are ignored, as Kilo's `net.ParseCIDR` of `spec.podCIDR` ignores them.
 */
export function firstHostAddress(cidr: string): string {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!match || !isIpv4Address(match[1]) || Number(match[2]) > 30) throw new Error(`"${cidr}" is not an IPv4 CIDR with host addresses`);
  const size = 2 ** (32 - Number(match[2]));
  const address = ipv4ToInt(match[1]);
  return intToIpv4(address - (address % size) + 1);
}
