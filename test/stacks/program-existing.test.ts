import * as pulumi from "@pulumi/pulumi";
import { FIXTURE_CA_DATA } from "../support/kubeconfig-fixture";
import { isSecret, isSecretInput, onlyResource, plainStrings, resourcesOfType, unwrapSecret, valueOf } from "../support/pulumi-mocks";
import { type ProgramRun } from "../support/run-program";
import { EXISTING_CLUSTER, existingClusterConfig, expectedTypeCounts, stackProgramRun } from "./program-shared";

/* The preview stack file on an existing cluster (`cluster.existing`) and a gateway machine of the user's own (`gateway.externalHost`). */

const { kubeconfig: KUBECONFIG, gatewayPublicIp: GATEWAY_IP } = EXISTING_CLUSTER;
const program = stackProgramRun("preview", existingClusterConfig());
let run: ProgramRun;
beforeAll(() => {
  run = program();
});

describe("the preview stack on an existing cluster with an external gateway host", () => {
  it("creates no cluster, pool, VM, IP or security group: the only Scaleway resources are the registry credentials", () => {
    const scaleway = run.resources.filter((resource) => resource.type.startsWith("scaleway:")).map((resource) => resource.type);
    expect(scaleway.sort()).toEqual(["scaleway:iam/apiKey:ApiKey", "scaleway:iam/application:Application", "scaleway:iam/policy:Policy"]);
    expect(resourcesOfType(run.resources, "iot-udp-ingress:index:KosmosCluster")).toEqual([]);
    expect(onlyResource(run.resources, "iot-udp-ingress:index:ExistingCluster").name).toBe("preview");
  });

  it("deploys through a Kubernetes provider holding the given kubeconfig as a secret", () => {
    const provider = onlyResource(run.resources, "pulumi:providers:kubernetes");
    expect(isSecretInput(provider.inputs.kubeconfig)).toBe(true);
    expect(unwrapSecret(provider.inputs.kubeconfig)).toBe(KUBECONFIG);
    expect(provider.inputs.enableServerSideApply).toBe("true");
  });

  it("declares the same Kubernetes objects as on a Kosmos cluster", () => {
    const counts: Record<string, number> = {};
    for (const resource of run.resources.filter((candidate) => candidate.type.startsWith("kubernetes:"))) {
      counts[resource.type] = (counts[resource.type] ?? 0) + 1;
    }
    const onKosmos = Object.entries(expectedTypeCounts(2)).filter(([type]) => type.startsWith("kubernetes:"));
    expect(counts).toEqual(Object.fromEntries(onKosmos));
  });

  it("points the Kilo Peer at the external host", () => {
    const peer = onlyResource(run.resources, "kubernetes:kilo.squat.ai/v1alpha1:Peer");
    expect((peer.inputs.spec as { endpoint: unknown }).endpoint).toEqual({ dnsOrIP: { ip: GATEWAY_IP }, port: 51820 });
  });

  it("exports the host's address, the API server of the kubeconfig and no cluster id", async () => {
    expect(await valueOf(run.outputs.gatewayPublicIp as pulumi.Output<string>)).toBe(GATEWAY_IP);
    expect(await valueOf(run.outputs.apiServerUrl as pulumi.Output<string>)).toBe("https://203.0.113.50:6443");
    expect(run.outputs.clusterId).toBeUndefined();
    expect(await isSecret(run.outputs.kubeconfig as pulumi.Output<string>)).toBe(true);
  });

  it("exports the gateway's cloud-init as a secret, with a kubeconfig for the given cluster", async () => {
    const output = run.outputs.gatewayCloudInit as pulumi.Output<string>;
    expect(await isSecret(output)).toBe(true);
    const cloudInit = await valueOf(output);
    expect(cloudInit).toContain("server: https://203.0.113.50:6443");
    expect(cloudInit).toContain(FIXTURE_CA_DATA);
    expect(cloudInit).not.toContain("admin-token-that-must-stay-secret");
  });

  it("never passes the admin kubeconfig in a plain resource input", () => {
    for (const resource of run.resources) {
      for (const { path, text } of plainStrings(resource.inputs)) {
        expect(`${resource.type} ${resource.name}.${path}: ${text}`).not.toContain("admin-token-that-must-stay-secret");
      }
    }
  });
});
