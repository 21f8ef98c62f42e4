import * as fs from "fs";
import * as path from "path";
import { isSecretInput, onlyResource, recordResources, settle, type RecordedResource } from "../support/pulumi-mocks";
import { REPOSITORY_ROOT } from "../support/stack-files";

describe("the built package, consumed by another stack", () => {
  let recorded: RecordedResource[];

  beforeAll(async () => {
    const built = path.join(REPOSITORY_ROOT, "dist/components/index.js");
    if (!fs.existsSync(built)) {
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does)`);
    }
    recorded = recordResources({ project: "analytics", stack: "prod" });
    await import("./another-stack");
    await settle();
  });

  it("resolves the package name to the built output with its type declarations", () => {
    expect(require.resolve("iot-udp-ingress")).toBe(path.join(REPOSITORY_ROOT, "dist/components/index.js"));
    expect(fs.existsSync(path.join(REPOSITORY_ROOT, "dist/components/index.d.ts"))).toBe(true);
  });

  it("builds a provider from the referenced stack's kubeconfig, still secret", () => {
    const reference = onlyResource(recorded, "pulumi:pulumi:StackReference");
    expect(reference.inputs.name).toBe("acme/iot-udp-ingress/prod");
    const provider = onlyResource(recorded, "pulumi:providers:kubernetes", "iot-cluster");
    expect(isSecretInput(provider.inputs.kubeconfig)).toBe(true);
    expect(onlyResource(recorded, "kubernetes:core/v1:Namespace", "analytics").inputs.metadata).toEqual({ name: "analytics" });
  });

  it("creates the package's components with their own token", () => {
    expect(onlyResource(recorded, "iot-udp-ingress:index:KosmosCluster", "lab")).toBeDefined();
    expect(onlyResource(recorded, "scaleway:kubernetes/cluster:Cluster", "lab-cluster").inputs.cni).toBe("kilo");
  });
});
