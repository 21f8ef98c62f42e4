import * as pulumi from "@pulumi/pulumi";
import { existingClusterKubeconfig, FIXTURE_CA_DATA } from "../support/kubeconfig-fixture";
import { GATEWAY_ARGS } from "./support/gateway-args";
import { isSecret, isSecretInput, onlyResource, recordResources, settle, unwrapSecret, valueOf, type RecordedResource } from "../support/pulumi-mocks";

/* ExistingCluster, and WireguardGateway on a machine of the user's own (`externalHost`): no Scaleway resource. */

let recorded: RecordedResource[];
import { GATEWAY_VM_DEFAULTS } from "../../components/wireguard-gateway";

let components: typeof import("../../components");

const VM_ARGS = GATEWAY_ARGS;

/** The gateway's args for an external host: the VM's settings left out. */
function externalArgs(extra: Partial<import("../../components").WireguardGatewayArgs> = {}): import("../../components").WireguardGatewayArgs {
  const { zone: _zone, instanceType: _instanceType, protectPublicIp: _protect, ...rest } = VM_ARGS;
  return { ...rest, externalHost: { publicIp: "192.0.2.10" }, ...extra };
}

/** The property paths and reasons of a component's construction error. */
function propertyErrors(construct: () => unknown): string[] {
  try {
    construct();
  } catch (error) {
    if (pulumi.InputPropertiesError.isInstance(error)) return error.errors.map((entry) => `${entry.propertyPath}: ${entry.reason}`);
    if (pulumi.InputPropertyError.isInstance(error)) return [`${error.propertyPath}: ${error.reason}`];
    throw error;
  }
  return [];
}

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});
beforeEach(() => recorded.splice(0));

describe("WireguardGateway with externalHost", () => {
  it("creates no Scaleway resource and points the Peer at the host", async () => {
    const gateway = new components.WireguardGateway("gw", externalArgs());
    await valueOf(gateway.cloudInit);
    await settle();
    expect(recorded.filter((resource) => resource.type.startsWith("scaleway:"))).toEqual([]);
    const peer = onlyResource(recorded, "kubernetes:kilo.squat.ai/v1alpha1:Peer");
    expect((peer.inputs.spec as { endpoint: unknown }).endpoint).toEqual({ dnsOrIP: { ip: "192.0.2.10" }, port: 51820 });
    expect(await valueOf(gateway.publicIp)).toBe("192.0.2.10");
    expect(await isSecret(gateway.cloudInit)).toBe(true);
    expect(await valueOf(gateway.cloudInit)).toMatch(/^#cloud-config\n/);
    // No server of the stack's, and the host's cloud-init is the only one.
    expect([await valueOf(gateway.serverIds), await valueOf(gateway.serverPublicIps), gateway.leaseName]).toEqual([[], [], undefined]);
    expect(await valueOf(gateway.cloudInits)).toEqual([await valueOf(gateway.cloudInit)]);
  });

  it("still creates the VM, its IP and security group without it", async () => {
    new components.WireguardGateway("gw", VM_ARGS);
    await settle();
    expect(recorded.filter((resource) => resource.type.startsWith("scaleway:")).map((resource) => resource.type).sort()).toEqual([
      "scaleway:instance/ip:Ip",
      "scaleway:instance/securityGroup:SecurityGroup",
      "scaleway:instance/server:Server",
    ]);
  });

  it("defaults the VM's zone, type and image", async () => {
    const { zone: _zone, instanceType: _instanceType, ...rest } = VM_ARGS;
    new components.WireguardGateway("gw", rest);
    await settle();
    expect(onlyResource(recorded, "scaleway:instance/server:Server").inputs).toMatchObject({
      zone: GATEWAY_VM_DEFAULTS.zone,
      type: "PRO2-XXS",
      image: "debian_bookworm",
    });
    expect(onlyResource(recorded, "scaleway:instance/ip:Ip").inputs.zone).toBe("fr-par-1");
  });

  it("rejects the VM's settings next to it, each by its property path", () => {
    expect(propertyErrors(() => new components.WireguardGateway("gw", externalArgs({ zone: "fr-par-2", image: "ubuntu_noble", protectPublicIp: true })))).toEqual([
      "zone: does not apply with externalHost: no VM is created",
      "image: does not apply with externalHost: no VM is created",
      "protectPublicIp: does not apply with externalHost: no VM is created",
    ]);
  });

  it("rejects an address that is not IPv4", () => {
    expect(propertyErrors(() => new components.WireguardGateway("gw", externalArgs({ externalHost: { publicIp: "gw.example.com" } })))).toEqual([
      'externalHost.publicIp: "gw.example.com" is not an IPv4 address',
    ]);
  });
});

describe("ExistingCluster", () => {
  it("builds a provider from the given kubeconfig, secret, and reads the API server and CA out of it", async () => {
    const kubeconfig = existingClusterKubeconfig();
    const cluster = new components.ExistingCluster("env", { kubeconfig });
    await settle();
    const provider = onlyResource(recorded, "pulumi:providers:kubernetes", "env-k8s");
    expect(isSecretInput(provider.inputs.kubeconfig)).toBe(true);
    expect(unwrapSecret(provider.inputs.kubeconfig)).toBe(kubeconfig);
    expect(provider.inputs.enableServerSideApply).toBe("true");
    expect(await valueOf(cluster.apiServerUrl)).toBe("https://203.0.113.50:6443");
    expect(await valueOf(cluster.clusterCaCertificate)).toBe(FIXTURE_CA_DATA);
    expect(await isSecret(cluster.kubeconfig)).toBe(true);
    expect(await isSecret(cluster.apiServerUrl)).toBe(false);
    expect(recorded.filter((resource) => resource.type.startsWith("scaleway:"))).toEqual([]);
  });

  it("marks the ingress nodes with the same label and taint as a Kosmos ingress pool", () => {
    const cluster = new components.ExistingCluster("env", { kubeconfig: existingClusterKubeconfig() });
    expect(cluster.ingressNodeLabel).toEqual({ key: "iot-udp-ingress/role", value: "ingress" });
    expect(cluster.ingressNodeTaint).toEqual({ key: "iot-udp-ingress/role", value: "ingress", effect: "NoSchedule" });
    const custom = new components.ExistingCluster("other", { kubeconfig: existingClusterKubeconfig(), ingressRoleKey: "example.com/pool" });
    expect(custom.ingressNodeTaint).toEqual({ key: "example.com/pool", value: "ingress", effect: "NoSchedule" });
  });

  it("rejects a kubeconfig without an inline CA by its property path, without repeating its content", () => {
    const kubeconfig = existingClusterKubeconfig((document) => delete document.clusters[0].cluster["certificate-authority-data"]);
    const errors = propertyErrors(() => new components.ExistingCluster("env", { kubeconfig }));
    expect(errors).toEqual([expect.stringMatching(/^kubeconfig: cluster "mine" has no certificate-authority-data/)]);
    expect(errors.join("")).not.toContain("admin-token-that-must-stay-secret");
  });
});
