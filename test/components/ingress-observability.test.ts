import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { buildAlertRules, renderAlertRules } from "../../infra/observability/alerts";
import { buildDashboard, DASHBOARD_FILE } from "../../infra/observability/dashboard";
import { hasKubernetesSchema, validateAgainstKubernetesSchema } from "../support/kubernetes-schema";
import { onlyResource, recordResources, settle, type RecordedResource } from "../support/pulumi-mocks";
import { alerts, args } from "./support/observability-args";

// promtool checks the PrometheusRule's groups in ingress-observability.system-test.ts.

let recorded: RecordedResource[];
let observability: typeof import("../../components/ingress-observability");

beforeAll(async () => {
  recorded = recordResources();
  observability = await import("../../components/ingress-observability");
});
beforeEach(() => recorded.splice(0));

function thrownBy(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (pulumi.InputPropertiesError.isInstance(error)) return error.errors.map((e) => `${e.propertyPath}: ${e.reason}`);
    if (pulumi.InputPropertyError.isInstance(error)) return [`${error.propertyPath}: ${error.reason}`];
    return [String(error)];
  }
  return [];
}

describe("IngressObservability", () => {
  it("renders the rules file and the dashboard, and creates no object by default", async () => {
    const component = new observability.IngressObservability("obs", args());
    await settle();
    expect(recorded.map((resource) => resource.type)).toEqual(["iot-udp-ingress:index:IngressObservability"]);
    expect(component.alertRules).toBe(renderAlertRules(alerts));
    expect(component.dashboard).toBe(fs.readFileSync(path.join(__dirname, "..", "..", "infra", "observability", DASHBOARD_FILE), "utf8"));
  });

  it("creates a PrometheusRule with the same groups as the rules file", async () => {
    new observability.IngressObservability("obs", args({ prometheusRule: true, labels: { release: "kube-prometheus-stack" } }));
    await settle();
    const rule = onlyResource(recorded, "kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs as any;
    expect(rule).toMatchObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: "iot-udp-ingress", namespace: "iot-ingress", labels: { release: "kube-prometheus-stack", "app.kubernetes.io/part-of": "iot-udp-ingress" } },
    });
    expect(rule.spec.groups).toEqual(buildAlertRules(alerts).groups);
    expect(recorded.some((resource) => resource.type === "kubernetes:core/v1:ConfigMap")).toBe(false);
  });

  it("creates a dashboard ConfigMap for Grafana's sidecar that passes the Kubernetes schema", async () => {
    new observability.IngressObservability("obs", args({ grafanaDashboard: true, namespace: "monitoring" }));
    await settle();
    const configMap = onlyResource(recorded, "kubernetes:core/v1:ConfigMap");
    const inputs = configMap.inputs as any;
    expect(inputs.metadata.namespace).toBe("monitoring");
    expect(inputs.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(inputs.data["iot-udp-ingress.json"])).toEqual(buildDashboard());
    expect(recorded.some((resource) => resource.type.endsWith(":PrometheusRule"))).toBe(false);
    const objects = recorded.filter((resource) => hasKubernetesSchema(resource.type));
    expect(objects).toHaveLength(1);
    objects.forEach(validateAgainstKubernetesSchema);
  });

  it("rejects bad arguments with their property paths", () => {
    expect(thrownBy(() => new observability.IngressObservability("bad", args({ labels: { "bad key!": "x", ok: "not ok!", grafana_dashboard: "1" } })))).toEqual([
      'labels.bad key!: key "bad key!" is not a label name (1-63 letters, digits, \'-\', \'_\', \'.\', alphanumeric at both ends)',
      "labels.ok: value \"not ok!\" is not a label value (at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)",
      "labels.grafana_dashboard: is set by grafanaDashboard, on the dashboard ConfigMap only",
    ]);
    expect(thrownBy(() => new observability.IngressObservability("bad", args({ prometheusRule: "yes" as unknown as boolean })))).toEqual([
      'prometheusRule: must be a boolean, got "yes"',
    ]);
    expect(thrownBy(() => new observability.IngressObservability("bad", args({ alerts: { ...alerts, maxConnections: 0 } })))).toEqual([
      "alerts.maxConnections: maxConnections must be a positive integer, got 0",
    ]);
    expect(thrownBy(() => new observability.IngressObservability("bad", args({ dashboard: { statPrefix: "a b" } })))).toEqual([
      'dashboard.statPrefix: statPrefix must be an Envoy stat name (letters, digits, _), got "a b"',
    ]);
    expect(observability.labelProblem("example.com/team", "")).toBeUndefined();
    expect(observability.labelProblem("Example.com/team", "x")).toBe('key prefix "Example.com" is not a DNS subdomain');
  });
});
