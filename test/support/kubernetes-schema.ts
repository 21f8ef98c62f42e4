import type { RecordedResource } from "./pulumi-mocks";
import { unwrapSecret } from "./pulumi-mocks";

interface ValidatableModel {
  validate(): void;
}
type ModelClass = new (data: Record<string, unknown>) => ValidatableModel;

/** `kubernetes:apps/v1:Deployment` -> `kubernetes-models/apps/v1/Deployment`; the core group lives at the top. */
function modelPathOfToken(token: string): { modulePath: string; kind: string } | undefined {
  const match = /^kubernetes:([^/]+)\/([^:]+):(\w+)$/.exec(token);
  if (!match) return undefined;
  const [, group, version, kind] = match;
  const modulePath = group === "core" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
  return { modulePath, kind };
}

/** Deep copy with every Pulumi secret replaced by its value, as the API server would receive it. */
export function withSecretsRevealed(value: unknown): unknown {
  const plain = unwrapSecret(value);
  if (Array.isArray(plain)) return plain.map(withSecretsRevealed);
  if (typeof plain === "object" && plain !== null) {
    return Object.fromEntries(Object.entries(plain).map(([key, item]) => [key, withSecretsRevealed(item)]));
  }
  return plain;
}

/** Whether the Kubernetes schema of `kubernetes-models` knows this resource type. */
export function hasKubernetesSchema(token: string): boolean {
  const target = modelPathOfToken(token);
  if (!target) return false;
  try {
    require.resolve(target.modulePath);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a recorded Kubernetes resource against the Kubernetes OpenAPI schema shipped by `kubernetes-models`
 * (types, required fields, formats, enums). Field names are already held to the API by @pulumi/kubernetes' types.
 */
export function validateAgainstKubernetesSchema(resource: RecordedResource): void {
  const target = modelPathOfToken(resource.type);
  if (!target) throw new Error(`${resource.type} is not a Kubernetes resource type`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(target.modulePath) as Record<string, ModelClass>;
  const Model = module[target.kind];
  const object = withSecretsRevealed(resource.inputs) as Record<string, unknown>;
  const model = new Model(object);
  try {
    model.validate();
  } catch (error) {
    throw new Error(`${resource.type} ${resource.name}: ${(error as Error).message}`);
  }
}
