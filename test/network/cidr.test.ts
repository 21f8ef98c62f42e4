import * as fc from "fast-check";
import { cidrContainsAddress, cidrsOverlap, cidrSize, parseIpv4Cidr } from "../../infra/network";

function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** A canonical prefix: any address with its host bits cleared. */
const prefixArbitrary = fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([address, length]) => {
  const size = 2 ** (32 - length);
  return `${intToIpv4(Math.floor(address / size) * size)}/${length}`;
});

/** Prefixes inside 10.0.0.0/24 at /24 or longer: small enough to compare against every address. */
const smallPrefixArbitrary = fc.tuple(fc.nat({ max: 255 }), fc.integer({ min: 24, max: 32 })).map(([offset, length]) => {
  const size = 2 ** (32 - length);
  return `10.0.0.${Math.floor(offset / size) * size}/${length}`;
});

function addressesOf(cidr: string): Set<string> {
  const first = Number(cidr.split("/")[0].split(".")[3]);
  return new Set(Array.from({ length: cidrSize(cidr) }, (_, index) => `10.0.0.${first + index}`));
}

describe("CIDR parsing", () => {
  it.each([
    ["10.128.0.0/14", { address: "10.128.0.0", prefixLength: 14 }],
    ["0.0.0.0/0", { address: "0.0.0.0", prefixLength: 0 }],
    ["192.0.2.7/32", { address: "192.0.2.7", prefixLength: 32 }],
  ])("parses %s", (text, expected) => {
    expect(parseIpv4Cidr(text)).toEqual(expected);
  });

  it.each([
    ["10.128.0.0", "is not an IPv4 CIDR"],
    ["10.128.0.0/33", "prefix length above 32"],
    ["10.128.0.256/24", "is not an IPv4 CIDR"],
    ["10.128.1.0/14", "has host bits set; the network is 10.128.0.0/14"],
    ["fd00::/8", "is not an IPv4 CIDR"],
    [" 10.0.0.0/8", "is not an IPv4 CIDR"],
  ])("rejects %s", (text, message) => {
    expect(() => parseIpv4Cidr(text)).toThrow(message);
  });
});

describe("CIDR overlap", () => {
  it("agrees with comparing every address, on small prefixes", () => {
    fc.assert(
      fc.property(smallPrefixArbitrary, smallPrefixArbitrary, (a, b) => {
        const shared = [...addressesOf(a)].some((address) => addressesOf(b).has(address));
        expect(cidrsOverlap(a, b)).toBe(shared);
      }),
      { numRuns: 500 },
    );
  });

  it("is symmetric and reflexive", () => {
    fc.assert(
      fc.property(prefixArbitrary, prefixArbitrary, (a, b) => {
        expect(cidrsOverlap(a, b)).toBe(cidrsOverlap(b, a));
        expect(cidrsOverlap(a, a)).toBe(true);
      }),
    );
  });

  it("holds exactly when one prefix contains the other's network address", () => {
    fc.assert(
      fc.property(prefixArbitrary, prefixArbitrary, (a, b) => {
        const contains = cidrContainsAddress(a, parseIpv4Cidr(b).address) || cidrContainsAddress(b, parseIpv4Cidr(a).address);
        expect(cidrsOverlap(a, b)).toBe(contains);
      }),
    );
  });

  it("never holds between the two halves of a prefix", () => {
    fc.assert(
      fc.property(prefixArbitrary.filter((cidr) => parseIpv4Cidr(cidr).prefixLength < 32), (cidr) => {
        const { address, prefixLength } = parseIpv4Cidr(cidr);
        const half = 2 ** (32 - prefixLength - 1);
        const start = Number(address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0));
        const low = `${intToIpv4(start)}/${prefixLength + 1}`;
        const high = `${intToIpv4(start + half)}/${prefixLength + 1}`;
        expect(cidrsOverlap(low, high)).toBe(false);
        expect(cidrsOverlap(cidr, low) && cidrsOverlap(cidr, high)).toBe(true);
      }),
    );
  });
});
