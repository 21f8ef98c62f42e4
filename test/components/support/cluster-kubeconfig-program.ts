/*
 * A KosmosCluster under Pulumi mocks whose Scaleway cluster returns the kubeconfig named by argv[2]:
 * `present` (a real one), `none` (no kubeconfigs), `empty` (configFile ""), `blank` (whitespace only).
 * Run in its own process by kosmos-cluster.test.ts: a failed kubeconfig fails the Kubernetes provider's
 * registration, which Node reports as the process's fatal error, the way `pulumi up` ends the program.
 * Prints the kubeconfig the provider was given (JSON) when registration succeeds.
 */
import * as pulumi from "@pulumi/pulumi";

const cases: Record<string, unknown[]> = {
  present: [{ configFile: "apiVersion: v1\nkind: Config\n# admin kubeconfig\n" }],
  none: [],
  empty: [{ configFile: "" }],
  blank: [{ configFile: " \n" }],
};
const kubeconfigs = cases[process.argv[2] ?? ""];
if (kubeconfigs === undefined) throw new Error(`unknown case ${process.argv[2]}`);

const providerKubeconfigs: unknown[] = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      if (args.type === "pulumi:providers:kubernetes") providerKubeconfigs.push(args.inputs.kubeconfig);
      const outputs = args.type === "scaleway:kubernetes/cluster:Cluster" ? { apiserverUrl: "https://api.example:6443", kubeconfigs } : {};
      return { id: `${args.name}-id`, state: { ...args.inputs, ...outputs } };
    },
    call: (args) => args.inputs,
  },
  "iot-udp-ingress",
  "test",
  false,
);

async function main(): Promise<void> {
  const { KosmosCluster } = await import("../../../components");
  new KosmosCluster("env", {
    clusterName: "iot-test",
    kubernetesVersion: "1.34",
    ingressPool: { nodeType: "PRO2-S", size: 1 },
  });
  for (let round = 0; round < 20; round += 1) await new Promise((resolve) => setImmediate(resolve));
  process.stdout.write(`${JSON.stringify({ providerKubeconfigs })}\n`);
}

void main();
