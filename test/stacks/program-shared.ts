import * as pulumi from "@pulumi/pulumi";
import { isSecret, onlyResource, plainStrings, resourcesOfType, valueOf } from "../support/pulumi-mocks";
import { runProgramWithStackConfig, type ProgramRun } from "../support/run-program";

interface Expectations {
  readonly clusterType: string;
  readonly ingressNodes: number;
  readonly pools: number;
  readonly protect: boolean;
}

/** The whole program, run under mocks with a committed stack file. */
export function describeStackProgram(stack: string, expected: Expectations): void {
  describe(`the ${stack} stack under mocks`, () => {
    let run: ProgramRun;
    beforeAll(async () => {
      run = await runProgramWithStackConfig(stack);
    });

    it("creates the Kosmos cluster from the stack file", () => {
      const cluster = onlyResource(run.resources, "scaleway:kubernetes/cluster:Cluster");
      expect(cluster.inputs).toMatchObject({ type: expected.clusterType, cni: "kilo", name: `iot-${stack}` });
      expect(cluster.inputs.tags).toContain(`environment=${stack}`);
      expect(resourcesOfType(run.resources, "scaleway:kubernetes/pool:Pool")).toHaveLength(expected.pools);
      expect(onlyResource(run.resources, "scaleway:kubernetes/pool:Pool", `${stack}-pool-ingress`).inputs.size).toBe(
        expected.ingressNodes,
      );
    });

    it(expected.protect ? "protects the cluster" : "leaves the cluster unprotected", () => {
      expect(run.protectedByName.get(stack)).toBe(expected.protect);
      expect(run.outputs.clusterProtected).toBe(expected.protect);
    });

    it("exports the kubeconfig as a secret and the cluster's identity in plain", async () => {
      const kubeconfig = run.outputs.kubeconfig as pulumi.Output<string>;
      expect(await isSecret(kubeconfig)).toBe(true);
      expect(await valueOf(run.outputs.clusterId as pulumi.Output<string>)).toBe(`${stack}-cluster-id`);
      expect(run.outputs.environmentName).toBe(stack);
    });

    it("never passes credentials in a plain resource input", () => {
      for (const resource of run.resources) {
        for (const { path, text } of plainStrings(resource.inputs)) {
          expect(`${resource.type} ${resource.name}.${path}: ${text}`).not.toMatch(/admin kubeconfig|admin-token|PrivateKey|BEGIN .*PRIVATE/);
        }
      }
    });
  });
}
