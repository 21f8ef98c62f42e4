/*
 * How every plan resolver (infra/<domain>/plan.ts) reports bad input: all problems at once, each at the key path the
 * caller wrote the value under. Components turn them into Pulumi's InputPropertiesError (components/input-errors.ts);
 * the stack maps them onto its config keys (stacks/config-plans.ts). One rule is then written once, in the resolver.
 */

/** One thing wrong with an input, at its key path in that input (`uplink.concentrators[0].name`). */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/** An input that did not resolve; `problems` holds every problem found, not only the first. */
export class PlanError extends Error {
  constructor(
    /** What was being resolved, e.g. `gateway`. */
    readonly subject: string,
    readonly problems: readonly Problem[],
  ) {
    super(`invalid ${subject}:\n${problems.map((problem) => `  - ${problem.path}: ${problem.message}`).join("\n")}`);
    this.name = "PlanError";
  }
}

/** Collects problems while a resolver runs; `throwIfAny` ends the resolution with a PlanError. */
export class Problems {
  private readonly found: Problem[] = [];

  add(path: string, message: string): void {
    this.found.push({ path, message });
  }

  /** Runs `check` and records what it throws (the parsers of infra/network and infra/wireguard throw plain Errors). */
  attempt<T>(path: string, check: () => T): T | undefined {
    try {
      return check();
    } catch (error) {
      this.add(path, (error as Error).message);
      return undefined;
    }
  }

  integer(path: string, value: number, min: number, max: number): void {
    if (!(Number.isInteger(value) && value >= min && value <= max)) this.add(path, `must be an integer from ${min} to ${max}`);
  }

  port(path: string, value: number): void {
    if (!(Number.isInteger(value) && value >= 1 && value <= 65535)) this.add(path, "must be an integer from 1 to 65535");
  }

  get list(): readonly Problem[] {
    return this.found;
  }

  throwIfAny(subject: string): void {
    if (this.found.length > 0) throw new PlanError(subject, this.found);
  }
}

/**
 * The problems of `resolve`, or none. For callers that report problems rather than stop at them (the stack's config
 * check); anything but a PlanError is a bug and is rethrown.
 */
export function problemsOf(resolve: () => unknown): readonly Problem[] {
  try {
    resolve();
    return [];
  } catch (error) {
    if (error instanceof PlanError) return error.problems;
    throw error;
  }
}

/**
 * Problems moved from the resolver's key paths onto the caller's: `paths` maps a key (and everything under it) to the
 * caller's path for it, longest key first; a path no key matches gets `fallback` prefixed.
 */
export function withPaths(problems: readonly Problem[], paths: Readonly<Record<string, string>>, fallback: string): Problem[] {
  const keys = Object.keys(paths).sort((a, b) => b.length - a.length);
  return problems.map((problem) => {
    const key = keys.find((candidate) => problem.path === candidate || problem.path.startsWith(`${candidate}.`) || problem.path.startsWith(`${candidate}[`));
    const path = key === undefined ? `${fallback}.${problem.path}` : `${paths[key]}${problem.path.slice(key.length)}`;
    return { path, message: problem.message };
  });
}
