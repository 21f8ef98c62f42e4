// Prints everything one stack renders under Pulumi's mocks, as canonical JSON: every resource with its inputs (secrets
// unwrapped and marked) and every stack output. `scripts/compare-renders.sh` runs it on two revisions to show that a
// refactoring changed no resource, input or artifact (cloud-init, Envoy bootstrap, scripts all travel in inputs).
//
//   tsx scripts/render-snapshot.ts <program root> <preview|prod|preview-existing|prod-existing>
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { recordResources, settle, isSecretInput, unwrapSecret } from "../test/support/pulumi-mocks";
import { existingClusterKubeconfig } from "../test/support/kubeconfig-fixture";
import { onExistingCluster, pulumiConfigOfStack, pulumiConfigWithSections, rawConfigOfStack } from "../test/support/stack-files";

const EXISTING_PLACEMENT = { kubeconfig: existingClusterKubeconfig(), ingressNodes: 2, gatewayPublicIp: "203.0.113.9" };

function stackConfig(name: string): { stack: string; config: Record<string, string> } {
  const [stack, variant] = name.split("-");
  if (stack !== "preview" && stack !== "prod") throw new Error(`unknown stack ${name}`);
  if (variant === undefined) return { stack, config: pulumiConfigOfStack(stack) };
  if (variant !== "existing") throw new Error(`unknown variant ${variant}`);
  const sections = onExistingCluster(rawConfigOfStack(stack), { ...EXISTING_PLACEMENT, ingressNodes: stack === "prod" ? 4 : 2 });
  return { stack, config: pulumiConfigWithSections(stack, sections) };
}

/** Secrets shown as `{ "secret": value }`, object keys sorted, so two renders compare as text. */
function canonical(value: unknown): unknown {
  if (isSecretInput(value)) return { secret: canonical(unwrapSecret(value)) };
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

async function resolved(value: unknown): Promise<unknown> {
  if (!pulumi.Output.isInstance(value)) return value;
  const output = value as pulumi.Output<unknown>;
  const [plain, secret] = await Promise.all([new Promise((resolve) => output.apply(resolve)), pulumi.isSecret(output)]);
  return secret ? { secret: plain } : plain;
}

async function main(): Promise<void> {
  const [root, name] = process.argv.slice(2);
  if (root === undefined || name === undefined) throw new Error("usage: render-snapshot.ts <program root> <stack>");
  const { stack, config } = stackConfig(name);
  process.env.SCW_DEFAULT_PROJECT_ID = "00000000-0000-4000-8000-0000000000aa";
  pulumi.runtime.setAllConfig(config);
  const resources = recordResources({ stack, preview: true });
  let exported: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    exported = (await import(path.resolve(root, "stacks/index"))) as Record<string, unknown>;
    return undefined;
  });
  await settle();
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(exported)) if (key !== "default" && key !== "__esModule") outputs[key] = await resolved(value);
  const sorted = [...resources].sort((a, b) => `${a.type} ${a.name}`.localeCompare(`${b.type} ${b.name}`));
  process.stdout.write(`${JSON.stringify(canonical({ resources: sorted, outputs }), null, 1)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
