import { parse } from "yaml";
import { ENVOY_API_BUILD_TIMEOUT_MS, envoyApiChecker, envoyApiProblems } from "../envoy/support/envoy-api";
import { onlyResource, recordResources, settle, type RecordedResource } from "../support/pulumi-mocks";
import { args } from "./support/envoy-args";

let recorded: RecordedResource[];
let components: typeof import("../../components");

beforeAll(async () => {
  recorded = recordResources();
  components = await import("../../components");
});
beforeAll(() => {
  envoyApiChecker();
}, ENVOY_API_BUILD_TIMEOUT_MS);
beforeEach(() => recorded.splice(0));

describe("EnvoyUdpIngress", () => {
  it("ships a bootstrap Envoy's own API accepts", async () => {
    new components.EnvoyUdpIngress("ingress", args());
    await settle();
    const data = onlyResource(recorded, "kubernetes:core/v1:ConfigMap", "ingress-bootstrap").inputs.data as Record<string, string>;
    const bootstrap = parse(data["envoy.yaml"]);
    expect(envoyApiProblems("bootstrap", bootstrap)).toEqual([]);
  });
});
