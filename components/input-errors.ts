import * as pulumi from "@pulumi/pulumi";
import { PlanError, type Problem } from "../infra/problems";

/** Problems as Pulumi reports bad component args: one error naming every property path. */
export function inputPropertiesError(component: string, problems: readonly Problem[]): pulumi.InputPropertiesError {
  return new pulumi.InputPropertiesError({
    message: `invalid ${component} args:\n${problems.map((problem) => `  - ${problem.path}: ${problem.message}`).join("\n")}`,
    errors: problems.map((problem) => ({ propertyPath: problem.path, reason: problem.message })),
  });
}

/** Runs a plan resolver on a component's args; its PlanError becomes the component's InputPropertiesError. */
export function resolvedArgs<T>(component: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (error instanceof PlanError) throw inputPropertiesError(component, error.problems);
    throw error;
  }
}
