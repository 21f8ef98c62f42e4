import { ENVOY_API_BUILD_TIMEOUT_MS, envoyApiChecker, envoyApiTextProblems } from "./support/envoy-api";
import { followWatchScenario, sidecarPerTest } from "./support/sidecar-harness";

describe("EDS sidecar against a fake Kubernetes API, judged by Envoy's own API", () => {
  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);
  const sidecars = sidecarPerTest();

  it("writes only files Envoy's API accepts while it lists, follows watch events and re-lists", async () => {
    const h = await sidecars.start();
    await followWatchScenario(h);
    // Every file the sidecar wrote on the way (empty, one, two, no endpoints) is one Envoy's API accepts.
    for (const content of new Set(h.writes)) expect(envoyApiTextProblems("eds", content)).toStrictEqual([]);
  });
});
