import { DECODER_DEFAULTS, resolveDecoderPlan, type DecoderEgressRule } from "../../infra/decoder";
import { PlanError, type Problem } from "../../infra/problems";

const DEVICES = ["10.128.0.0/14", "10.160.0.0/16"];
const tcp443 = [{ protocol: "TCP" as const, port: 443 }];

function problemsOf(egress: DecoderEgressRule[], deviceSubnets: readonly string[] = DEVICES): readonly Problem[] {
  try {
    resolveDecoderPlan({ egress, deviceSubnets });
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    expect((error as PlanError).subject).toBe("decoder");
    return (error as PlanError).problems;
  }
  throw new Error("expected resolveDecoderPlan to throw");
}

describe("DECODER_DEFAULTS", () => {
  it("holds every decoder default, once", () => {
    expect(DECODER_DEFAULTS).toStrictEqual({
      name: "decoder",
      port: 5683,
      healthPort: 8080,
      resources: { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    });
  });
});

describe("resolveDecoderPlan", () => {
  it("allows no further egress by default and keeps the rules it is given, in order", () => {
    expect(resolveDecoderPlan({ deviceSubnets: DEVICES })).toStrictEqual({ egress: [] });
    const egress: DecoderEgressRule[] = [
      { to: [{ cidr: "172.16.16.0/22" }, { cidr: "10.0.0.0/8", except: ["10.128.0.0/9"] }], ports: tcp443 },
      { to: [{ namespaceSelector: { "kubernetes.io/metadata.name": "backend" } }], ports: [{ protocol: "UDP", port: 4000, endPort: 4010 }] },
    ];
    expect(resolveDecoderPlan({ egress, deviceSubnets: DEVICES })).toStrictEqual({ egress });
  });

  it("reports every problem at once, each at its key path", () => {
    expect(
      problemsOf([
        { to: [], ports: [] },
        {
          to: [{ cidr: "172.16.16.1/22", except: ["10.0.0.0/33"] }, { cidr: "172.16.0.0/16", except: ["172.17.0.0/24"] }, {}],
          ports: [{ protocol: "ICMP" as "TCP", port: 0, endPort: 70000 }],
        },
      ]),
    ).toStrictEqual([
      { path: "egress[0].to", message: "must name at least one destination (an empty list allows every destination)" },
      { path: "egress[0].ports", message: "must name at least one port (an empty list allows every port)" },
      { path: "egress[1].to[0].cidr", message: '"172.16.16.1/22" has host bits set; the network is 172.16.16.0/22' },
      { path: "egress[1].to[0].except[0]", message: '"10.0.0.0/33" has a prefix length above 32' },
      { path: "egress[1].to[1].except[0]", message: "172.17.0.0/24 is not inside 172.16.0.0/16" },
      { path: "egress[1].to[2]", message: "needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)" },
      { path: "egress[1].ports[0].protocol", message: "must be TCP, UDP or SCTP, got ICMP" },
      { path: "egress[1].ports[0].port", message: "must be a port in 1-65535, got 0" },
      { path: "egress[1].ports[0].endPort", message: "must be a port in 0-65535, got 70000" },
    ]);
  });

  it("keeps traffic to the devices to the downlink ports: a CIDR over a device subnet needs that subnet in except", () => {
    expect(problemsOf([{ to: [{ cidr: "10.0.0.0/8", except: ["10.128.0.0/14"] }], ports: tcp443 }])).toStrictEqual([
      {
        path: "egress[0].to[0].cidr",
        message: "10.0.0.0/8 overlaps the device subnet 10.160.0.0/16; traffic to devices is limited to downlinkPorts (add it to except)",
      },
    ]);
    expect(resolveDecoderPlan({ egress: [{ to: [{ cidr: "10.0.0.0/8", except: ["10.128.0.0/9"] }], ports: tcp443 }], deviceSubnets: DEVICES }).egress).toHaveLength(1);
  });

  it("skips device subnets that are not CIDRs: their own check reports them", () => {
    expect(resolveDecoderPlan({ egress: [{ to: [{ cidr: "0.0.0.0/0" }], ports: tcp443 }], deviceSubnets: ["devices"] }).egress).toHaveLength(1);
  });
});
