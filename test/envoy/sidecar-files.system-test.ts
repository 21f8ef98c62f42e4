import { ENVOY_API_BUILD_TIMEOUT_MS, envoyApiChecker, envoyApiFileProblems } from "./support/envoy-api";
import { sidecarProgramPerTest, writesEdsFileScenario } from "./support/sidecar-program";

describe("the sidecar as a program, copied flat into a directory without node_modules (as from a ConfigMap)", () => {
  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);
  const program = sidecarProgramPerTest();

  it("writes an EDS file from the API that Envoy's API accepts, and exits 0 on SIGTERM", async () => {
    await writesEdsFileScenario(program, (edsPath) => expect(envoyApiFileProblems("eds", edsPath)).toStrictEqual([]));
  });
});
