import * as pulumi from "@pulumi/pulumi";

/**
 * What `create` throws as Pulumi reports bad component args: the InputPropertiesError's message and its
 * `propertyPath: reason` lines; no lines when it throws nothing. Any other error is rethrown.
 */
export function inputErrorsOf(create: () => unknown): { message: string; errors: string[] } {
  try {
    create();
  } catch (error) {
    if (!pulumi.InputPropertiesError.isInstance(error)) throw error;
    return { message: error.message, errors: error.errors.map((entry) => `${entry.propertyPath}: ${entry.reason}`) };
  }
  return { message: "", errors: [] };
}
