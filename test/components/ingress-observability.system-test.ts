import { stringify } from "yaml";
import { checkRules } from "../observability/support/promtool";
import { onlyResource, recordResources, settle, type RecordedResource } from "../support/pulumi-mocks";
import { args } from "./support/observability-args";

let recorded: RecordedResource[];
let observability: typeof import("../../components/ingress-observability");

beforeAll(async () => {
  recorded = recordResources();
  observability = await import("../../components/ingress-observability");
});
beforeEach(() => recorded.splice(0));

describe("IngressObservability", () => {
  it("creates a PrometheusRule whose groups promtool accepts", async () => {
    new observability.IngressObservability("obs", args({ prometheusRule: true, labels: { release: "kube-prometheus-stack" } }));
    await settle();
    const rule = onlyResource(recorded, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs as any;
    const result = checkRules(stringify({ groups: rule.spec.groups }));
    expect(result.output).toContain("SUCCESS: 9 rules found");
  });
});
