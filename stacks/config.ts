import type { z } from "zod";
import { crossCheckStackConfig, type ConfigProblem } from "./config-network-checks";
import { stackConfigSchema, type ParsedStackConfig } from "./config-schema";

export { type ConfigProblem } from "./config-network-checks";
export type { ResourcesConfig, StackConfigInput } from "./config-schema";

/** The Pulumi config namespace of this project: keys are `iot-udp-ingress:<section>`. */
export const CONFIG_NAMESPACE = "iot-udp-ingress";

/** A validated environment, with every default resolved. */
export type EnvironmentConfig = Omit<ParsedStackConfig, "cluster"> & {
  readonly cluster: ParsedStackConfig["cluster"] & { readonly protect: boolean };
};

/** Every problem of a stack config at once, so one `pulumi preview` shows the whole list. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid stack configuration (keys under "${CONFIG_NAMESPACE}:" in Pulumi.<stack>.yaml):\n` +
        problems.map((problem) => `  - ${problem.path}: ${problem.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/**
 * Validates the raw stack config (the sections as parsed objects) and returns it with defaults applied.
 * Throws a ConfigError that lists every problem with its key path.
 */
export function parseStackConfig(raw: unknown): EnvironmentConfig {
  const result = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    // One message lists every problem: the cross-key checks still run over the sections that are valid on their
    // own, so a bad image does not hide an overlapping subnet.
    throw new ConfigError([
      ...result.error.issues.flatMap(problemsOfIssue),
      ...crossCheckStackConfig(validSections(raw)),
    ]);
  }
  const problems = crossCheckStackConfig(result.data);
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  const config = result.data;
  return {
    ...config,
    cluster: { ...config.cluster, protect: config.cluster.protect ?? config.environment === "prod" },
  };
}

/** The top-level sections of `raw` that pass their own schema, with their defaults applied. */
function validSections(raw: unknown): Partial<ParsedStackConfig> {
  const sections: Partial<Record<keyof ParsedStackConfig, unknown>> = {};
  const object = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  for (const [key, schema] of Object.entries(stackConfigSchema.shape)) {
    const parsed = schema.safeParse(object[key]);
    if (parsed.success) sections[key as keyof ParsedStackConfig] = parsed.data;
  }
  return sections as Partial<ParsedStackConfig>;
}

/**
 * Collects the project's keys from Pulumi's flat config map (`"iot-udp-ingress:gateway" -> JSON text`) into one
 * object. Keys of other namespaces (providers such as `scaleway:`) are left alone.
 */
export function rawStackConfigFromPulumi(allConfig: Record<string, string>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(allConfig)) {
    const [namespace, name] = key.split(":", 2);
    if (namespace !== CONFIG_NAMESPACE || name === undefined) continue;
    raw[name] = parseConfigValue(text);
  }
  return raw;
}

function parseConfigValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) => (typeof segment === "number" ? `[${segment}]` : `${index === 0 ? "" : "."}${String(segment)}`))
    .join("");
}

function problemsOfIssue(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: path === "" ? key : `${path}.${key}`,
      message: "unknown key (check its spelling against README.md)",
    }));
  }
  // `.int()` reports a fraction as a type error; its own message says more than the generic one.
  if (issue.code === "invalid_type" && issue.expected !== "int") {
    const message =
      issue.input === undefined ? `is required (${issue.expected})` : `expected ${issue.expected}, got ${describeValue(issue.input)}`;
    return [{ path, message }];
  }
  if (issue.code === "invalid_key") {
    return issue.issues.map((inner) => ({ path, message: inner.message }));
  }
  return [{ path: path === "" ? "(root)" : path, message: issue.message }];
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}
