import { PlanError } from "../../infra/problems";

/** Every problem a resolver reports, as `path: message`, or [] when it resolves; any other error goes on. */
export function planProblems(resolve: () => unknown): string[] {
  try {
    resolve();
    return [];
  } catch (error) {
    if (error instanceof PlanError) return error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    throw error;
  }
}
