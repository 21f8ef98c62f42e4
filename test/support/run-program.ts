import * as pulumi from "@pulumi/pulumi";
import { recordResources, settle, type RecordedResource } from "./pulumi-mocks";
import { pulumiConfigOfStack } from "./stack-files";

export interface ProgramRun {
  readonly resources: RecordedResource[];
  readonly outputs: Record<string, unknown>;
  /** The `protect` option each resource was created with, by resource name (mocks do not see options). */
  readonly protectedByName: Map<string, boolean | undefined>;
}

/**
 * Runs the whole stack program under mocks with the committed config of `stack` (or `options.config`, Pulumi's flat
 * config map), as a preview by default. One run per test file.
 */
export async function runProgramWithStackConfig(
  stack: string,
  options: { preview?: boolean; config?: Record<string, string> } = {},
): Promise<ProgramRun> {
  pulumi.runtime.setAllConfig(options.config ?? pulumiConfigOfStack(stack));
  const resources = recordResources({ stack, preview: options.preview ?? true });
  const protectedByName = new Map<string, boolean | undefined>();
  // Run as the engine does, inside the root stack resource, so that a stack transformation can be registered:
  // it sees each resource's options, which the mock monitor does not receive.
  let outputs: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      protectedByName.set(args.name, args.opts.protect);
      return undefined;
    });
    outputs = (await import("../../stacks/index")) as Record<string, unknown>;
    return undefined;
  });
  await settle();
  return { resources, outputs, protectedByName };
}
