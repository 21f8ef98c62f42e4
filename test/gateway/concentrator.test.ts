import { concentratorGatewayPeers, resolveGatewayPlan } from "../../infra/gateway";
import { CONCENTRATOR_PUBLIC_KEY, SECOND_CONCENTRATOR_PUBLIC_KEY, gatewayPlan, gatewayPlanInput } from "./support/plan";

describe("what the concentrators configure toward the gateway", () => {
  it("needs the pod CIDR only with the downlink rewrite off", () => {
    const off = concentratorGatewayPeers(gatewayPlan());
    expect(off).toEqual([
      {
        concentrator: "operator-vpn",
        allowedIps: { rewriteOn: ["10.5.1.1/32"], rewriteOff: ["10.5.1.1/32", "100.64.0.0/15"], current: ["10.5.1.1/32", "100.64.0.0/15"] },
      },
    ]);
    const on = concentratorGatewayPeers(gatewayPlan({ downlinkSourceRewrite: true }));
    expect(on[0].allowedIps.current).toEqual(["10.5.1.1/32"]);
  });

  it("adds the uplink address when the ingress address differs, for every concentrator", () => {
    const base = gatewayPlanInput();
    const peers = concentratorGatewayPeers(
      resolveGatewayPlan({
        ...base,
        ingress: { address: "10.5.2.1", port: 5683 },
        uplink: {
          ...base.uplink,
          concentrators: [
            { name: "a", publicKey: CONCENTRATOR_PUBLIC_KEY, sourceCidrs: ["198.51.100.1/32"], deviceSubnets: ["10.128.0.0/14"] },
            { name: "b", publicKey: SECOND_CONCENTRATOR_PUBLIC_KEY, sourceCidrs: ["198.51.100.2/32"], deviceSubnets: ["10.200.0.0/16"] },
          ],
        },
      }),
    );
    expect(peers.map((p) => [p.concentrator, p.allowedIps.rewriteOn, p.allowedIps.rewriteOff])).toEqual([
      ["a", ["10.5.2.1/32", "10.5.1.1/32"], ["10.5.2.1/32", "10.5.1.1/32", "100.64.0.0/15"]],
      ["b", ["10.5.2.1/32", "10.5.1.1/32"], ["10.5.2.1/32", "10.5.1.1/32", "100.64.0.0/15"]],
    ]);
  });
});
