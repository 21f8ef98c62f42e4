import fc from "fast-check";
import { type SteeringTarget } from "../../infra/gateway";
import { assignBuckets, bucketWeight, renderSteeringUpdate, steeringAddressOfPodCidr } from "./support/steering-oracle";

// The TypeScript oracle of the steering programs; the programs themselves (jq, bash) run in steering.system-test.ts.

const t = (name: string, address: string): SteeringTarget => ({ name, address });

describe("bucket assignment (rendezvous hashing of node names)", () => {
  const targets = ["ingress-a", "ingress-b", "ingress-c", "ingress-d"].map((name, i) => t(name, `100.64.${i}.1`));

  it("is exact for a known input", () => {
    expect([bucketWeight("ingress-1", 0), bucketWeight("ingress-1", 255)]).toEqual([31742462, 101236]);
    expect(assignBuckets([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1")], 8)).toEqual([
      "100.64.2.1", "100.64.1.1", "100.64.2.1", "100.64.1.1", "100.64.2.1", "100.64.2.1", "100.64.2.1", "100.64.1.1",
    ]);
  });

  it("spreads 256 buckets over 4 nodes within 50%-150% of the fair share", () => {
    const counts = new Map<string, number>();
    for (const ip of assignBuckets(targets, 256)) counts.set(ip, (counts.get(ip) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(targets.map((x) => x.address));
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(32);
      expect(count).toBeLessThanOrEqual(96);
    }
  });

  it("depends on names only: other addresses for the same names give the same node per bucket", () => {
    const moved = targets.map((x, i) => t(x.name, `100.65.${9 - i}.1`));
    const byName = (list: readonly SteeringTarget[]) => (address: string) => list.find((x) => x.address === address)?.name;
    expect(assignBuckets(moved, 256).map(byName(moved))).toEqual(assignBuckets(targets, 256).map(byName(targets)));
  });

  it("moves only the buckets of a node that leaves, and only buckets to a node that joins", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,40}$/), { minLength: 2, maxLength: 12 }), (names) => {
        const nodes = names.map((name, i) => t(name, `100.64.${i}.1`));
        const before = assignBuckets(nodes, 256);
        const leaving = nodes[0].address;
        const after = assignBuckets(nodes.slice(1), 256);
        before.forEach((ip, b) => {
          if (ip !== leaving) expect(after[b]).toBe(ip);
        });
        // Joining is the same change in reverse.
        after.forEach((ip, b) => {
          if (before[b] !== leaving) expect(before[b]).toBe(ip);
        });
      }),
      { numRuns: 50 },
    );
  });
});

describe("steering addresses", () => {
  it("is the first host address of the pod CIDR", () => {
    expect(steeringAddressOfPodCidr("100.64.3.0/24")).toBe("100.64.3.1");
    expect(steeringAddressOfPodCidr("100.65.255.128/25")).toBe("100.65.255.129");
    expect(() => steeringAddressOfPodCidr("100.64.3.0/31")).toThrow(/host addresses/);
  });
});

describe("steering update transaction", () => {
  it("renders flush and refill of chain and map in one transaction", () => {
    expect(renderSteeringUpdate([t("ingress-2", "100.64.2.1"), t("ingress-1", "100.64.1.1"), t("ingress-2", "100.64.2.1")], { buckets: 8, seed: 7 })).toBe(
      [
        "flush chain ip iot_gateway_nat steer",
        "flush map ip iot_gateway_nat steer_buckets",
        "add element ip iot_gateway_nat steer_buckets { 0 : 100.64.2.1, 1 : 100.64.1.1, 2 : 100.64.2.1, 3 : 100.64.1.1, 4 : 100.64.2.1, 5 : 100.64.2.1, 6 : 100.64.2.1, 7 : 100.64.1.1 }",
        "add rule ip iot_gateway_nat steer dnat to jhash ip saddr mod 8 seed 7 map @steer_buckets",
        "",
      ].join("\n"),
    );
  });

  it("refuses an empty target set, non-addresses and a name with two addresses", () => {
    expect(() => renderSteeringUpdate([], { buckets: 8, seed: 0 })).toThrow(/without targets/);
    expect(() => renderSteeringUpdate([t("a", "100.64.1.0/24")], { buckets: 8, seed: 0 })).toThrow(/not an IPv4 address/);
    expect(() => renderSteeringUpdate([t("a", "100.64.1.1"), t("a", "100.64.2.1")], { buckets: 8, seed: 0 })).toThrow(/two steering addresses/);
  });

});
