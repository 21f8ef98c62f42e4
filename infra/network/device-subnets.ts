import type { Problems } from "../problems";
import { cidrsOverlap, parseIpv4Cidr } from "./cidr";

/**
 * The rule every part that takes the device subnets applies (the gateway routes them, Envoy filters on them, the
 * decoders' egress avoids them): at least one, each an IPv4 CIDR without host bits, no two overlapping (a subnet
 * listed twice overlaps itself). Problems at `deviceSubnets` and `deviceSubnets[i]`; returns the valid subnets.
 */
export function checkDeviceSubnets(problems: Problems, subnets: readonly string[]): string[] {
  if (!Array.isArray(subnets) || subnets.length === 0) {
    problems.add("deviceSubnets", "must list at least one device subnet");
    return [];
  }
  const valid = subnets.map((cidr, i) => problems.attempt(`deviceSubnets[${i}]`, () => parseIpv4Cidr(cidr)) !== undefined);
  subnets.forEach((cidr, i) => {
    if (!valid[i]) return;
    subnets.slice(0, i).forEach((earlier, j) => {
      if (valid[j] && cidrsOverlap(cidr, earlier)) problems.add(`deviceSubnets[${i}]`, `${cidr} overlaps the device subnet ${earlier}`);
    });
  });
  return subnets.filter((_, i) => valid[i]);
}
