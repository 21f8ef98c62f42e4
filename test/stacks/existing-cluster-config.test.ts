import { parseStackConfig, type EnvironmentConfig } from "../../stacks/config";
import { existingClusterKubeconfig } from "../support/kubeconfig-fixture";
import { changed, configProblems, validConfig } from "../support/valid-config";

/* `cluster.existing` and `gateway.externalHost`: a stack on a cluster and a gateway machine it does not create. */

const KUBECONFIG = existingClusterKubeconfig();

/** The valid config moved onto an existing cluster (4 ingress nodes, as the valid config's pool) and an external host. */
function existingConfig(): Record<string, any> {
  const config = validConfig();
  config.cluster = { name: "iot-test", existing: { kubeconfig: KUBECONFIG, ingressNodes: 4 } };
  config.gateway.externalHost = { publicIp: "192.0.2.10" };
  return config;
}

function parsed(change: (config: Record<string, any>) => void = () => undefined): EnvironmentConfig {
  return parseStackConfig(changed(existingConfig, change));
}

function problemsOf(change: (config: Record<string, any>) => void): string[] {
  return configProblems(changed(existingConfig, change));
}

describe("cluster.existing", () => {
  it("is accepted with the keys that still apply, their defaults filled in", () => {
    expect(parsed().cluster).toEqual({
      name: "iot-test",
      existing: { kubeconfig: KUBECONFIG, ingressNodes: 4 },
      podCidr: "100.64.0.0/15",
      serviceCidr: "10.32.0.0/20",
      tags: [],
      protect: false,
    });
  });

  it("needs no untainted pool of the stack's (the cluster's pools are not the stack's)", () => {
    expect(problemsOf(() => undefined)).toEqual([]);
  });

  it.each([
    ["a Kosmos key next to it", (c: Record<string, any>) => (c.cluster.kubernetesVersion = "1.34"), ["cluster.kubernetesVersion: unknown key (check its spelling against README.md)"]],
    [
      "pools next to it",
      (c: Record<string, any>) => (c.cluster.ingressPool = { nodeType: "PRO2-S", size: 2 }),
      ["cluster.ingressPool: unknown key (check its spelling against README.md)"],
    ],
    ["no ingress node count", (c: Record<string, any>) => delete c.cluster.existing.ingressNodes, ["cluster.existing.ingressNodes: is required (number)"]],
    ["zero ingress nodes", (c: Record<string, any>) => (c.cluster.existing.ingressNodes = 0), ["cluster.existing.ingressNodes: expected a number above 0"]],
    ["no kubeconfig", (c: Record<string, any>) => delete c.cluster.existing.kubeconfig, ["cluster.existing.kubeconfig: is required (string)"]],
    ["a kubeconfig that is not YAML", (c: Record<string, any>) => (c.cluster.existing.kubeconfig = "clusters: [a"), [expect.stringMatching(/^cluster\.existing\.kubeconfig: is not a kubeconfig \(YAML does not parse/)]],
    [
      "a kubeconfig without a current context",
      (c: Record<string, any>) => (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => delete d["current-context"])),
      ["cluster.existing.kubeconfig: has no current-context"],
    ],
    [
      "a kubeconfig whose context names a missing cluster",
      (c: Record<string, any>) => (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => (d.contexts[0].context.cluster = "other"))),
      ['cluster.existing.kubeconfig: has no cluster named "other"'],
    ],
    [
      "a kubeconfig with the CA as a file path",
      (c: Record<string, any>) =>
        (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => {
          delete d.clusters[0].cluster["certificate-authority-data"];
          d.clusters[0].cluster["certificate-authority"] = "/home/me/.kube/ca.crt";
        })),
      [expect.stringMatching(/^cluster\.existing\.kubeconfig: cluster "mine" has no certificate-authority-data: the gateway's kubeconfig needs the CA inline/)],
    ],
    [
      "a kubeconfig whose CA is not a certificate",
      (c: Record<string, any>) =>
        (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => (d.clusters[0].cluster["certificate-authority-data"] = "bm90IGEgY2VydA=="))),
      ['cluster.existing.kubeconfig: cluster "mine" has certificate-authority-data that is not a base64 PEM certificate'],
    ],
    [
      "a plain http server",
      (c: Record<string, any>) => (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => (d.clusters[0].cluster.server = "http://203.0.113.50:8080"))),
      ['cluster.existing.kubeconfig: cluster "mine" has no https server (got "http://203.0.113.50:8080")'],
    ],
  ])("rejects %s", (_case, change, expected) => {
    expect(problemsOf(change)).toEqual(expected);
  });

  it("never repeats the kubeconfig's content in a problem", () => {
    const problems = problemsOf((c) => (c.cluster.existing.kubeconfig = existingClusterKubeconfig((d) => delete d["current-context"])));
    expect(problems.join("\n")).not.toContain("admin-token-that-must-stay-secret");
  });

  it("checks decoders and Envoy's session budget against the existing cluster's ingress nodes", () => {
    expect(problemsOf((c) => (c.decoder.replicas = 3))).toEqual([
      "decoder.replicas: 3 is below cluster.existing.ingressNodes (4): every ingress node needs a local decoder, or the gateway cannot steer devices to it",
    ]);
    expect(
      problemsOf((c) => {
        c.cluster.existing.ingressNodes = 1;
        c.decoder.replicas = 1;
        c.devices.expectedCount = 250_000;
        c.ingress = { idleTimeoutSeconds: 300 };
      }),
    ).toEqual([expect.stringMatching(/^cluster\.existing\.ingressNodes: \d+ sessions per node \(with headroom\) exceed the 28232 ephemeral ports/)]);
  });

  it("still checks the address plan against the device subnets", () => {
    expect(problemsOf((c) => (c.cluster.podCidr = "10.200.0.0/16"))).toEqual([
      expect.stringMatching(/^devices\.subnets\[0\]: 10\.200\.0\.0\/20 overlaps the pod CIDR/),
    ]);
  });
});

describe("gateway.externalHost", () => {
  it("is accepted without the VM's keys", () => {
    expect(parsed().gateway).toMatchObject({ externalHost: { publicIp: "192.0.2.10" } });
    expect(parsed().gateway.zone).toBeUndefined();
  });

  it("rejects the VM's keys next to it, each by its path", () => {
    expect(
      problemsOf((c) => {
        c.gateway.zone = "fr-par-2";
        c.gateway.instanceType = "PRO2-XS";
        c.gateway.image = "debian_bookworm";
      }),
    ).toEqual([
      "gateway.zone: does not apply with externalHost: no VM is created",
      "gateway.instanceType: does not apply with externalHost: no VM is created",
      "gateway.image: does not apply with externalHost: no VM is created",
    ]);
  });

  it("rejects a gateway pair next to it, and takes the default (no pair) silently", () => {
    expect(parsed().gateway.highAvailability).toBe(false);
    expect(problemsOf((c) => (c.gateway.highAvailability = false))).toEqual([]);
    expect(problemsOf((c) => (c.gateway.highAvailability = true))).toEqual([
      "gateway.highAvailability: does not apply with externalHost: a pair is two Scaleway VMs sharing a flexible IP",
    ]);
  });

  it.each([
    ["a hostname", { publicIp: "gw.example.com" }, ["gateway.externalHost.publicIp: expected an IPv4 address like 10.5.0.1"]],
    ["no address", {}, ["gateway.externalHost.publicIp: is required (string)"]],
    ["an unknown key", { publicIp: "192.0.2.10", sshPort: 22 }, ["gateway.externalHost.sshPort: unknown key (check its spelling against README.md)"]],
  ])("rejects %s", (_case, externalHost, expected) => {
    expect(problemsOf((c) => (c.gateway.externalHost = externalHost))).toEqual(expected);
  });

  it("works with a Kosmos cluster too (the stack creates the cluster, the user runs the gateway)", () => {
    const config = validConfig();
    config.gateway.externalHost = { publicIp: "192.0.2.10" };
    expect(parseStackConfig(config).gateway.externalHost).toEqual({ publicIp: "192.0.2.10" });
  });
});
