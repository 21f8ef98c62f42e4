import { ENVOY_API_BUILD_TIMEOUT_MS, envoyApiChecker, envoyApiProblems } from "../envoy/support/envoy-api";
import { cloudInitSchema } from "../gateway/support/checkers";
import { checkRules } from "../observability/support/promtool";
import { type ProgramRun } from "../support/run-program";
import { envoyBootstrapOf, gatewayCloudInitsOf, stackProgramRun } from "./program-shared";

/**
 * The whole program under mocks with a committed stack file (as in program-shared.ts's describeStackProgram), its
 * artifacts judged by their ecosystems' own tools: Envoy's API, `cloud-init schema`, promtool.
 */
export function describeStackProgramArtifacts(stack: string): void {
  describe(`the ${stack} stack under mocks, judged by the real tools`, () => {
    const program = stackProgramRun(stack);
    let run: ProgramRun;
    beforeAll(() => {
      run = program();
    });
    beforeAll(() => {
      envoyApiChecker();
    }, ENVOY_API_BUILD_TIMEOUT_MS);

    it("ships an Envoy bootstrap Envoy's own API accepts", () => {
      expect(envoyApiProblems("bootstrap", envoyBootstrapOf(run))).toEqual([]);
    });

    it("boots every gateway VM with a cloud-init that passes `cloud-init schema`", () => {
      const cloudInits = gatewayCloudInitsOf(run);
      expect(cloudInits.length).toBeGreaterThan(0);
      for (const cloudInit of cloudInits) {
        const result = cloudInitSchema(cloudInit);
        expect(`${result.stdout}${result.stderr}`).toContain("Valid cloud-config");
        expect(result.status).toBe(0);
      }
    });

    it("exports alert rules that promtool accepts", () => {
      const result = checkRules(run.outputs.alertRules as string);
      expect(result.output).toContain("SUCCESS: 9 rules found");
      expect(result.status).toBe(0);
    });
  });
}
