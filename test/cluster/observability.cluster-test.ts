import { apply, getJson, kubectl, report } from "./support/cluster";
import { WIRING, componentKubernetesObjects, ofKinds, onlyObject, type ComponentObject, type KubernetesObject } from "./support/component-objects";

// The Prometheus Operator's objects the components create when asked (Envoy's PodMonitor, the gateway's
// ServiceMonitor, the PrometheusRule and the dashboard ConfigMap), admitted by the real API server against the
// operator's own CRDs: tools/kubernetes/local-cluster.sh installs them from the operator's Go module
// (example/prometheus-operator-crd/, PROMETHEUS_OPERATOR_VERSION there). kubectl validates strictly against the schema
// the API server publishes from those CRDs, and the server's typed apply rejects a wrong type, so an unknown or
// misplaced field is an error instead of being pruned away in silence.

const NAMESPACE = WIRING.ingressNamespace;
const MONITORING_KINDS = ["PodMonitor", "ServiceMonitor", "PrometheusRule"];
const CRDS = ["podmonitors", "servicemonitors", "prometheusrules"].map((plural) => `${plural}.monitoring.coreos.com`);

let objects: ComponentObject[];
let monitoring: KubernetesObject[];

beforeAll(async () => {
  objects = await componentKubernetesObjects({ monitoring: true });
  monitoring = [...ofKinds(objects, ...MONITORING_KINDS), ...ofKinds(objects, "ConfigMap").filter((entry) => /-dashboard$/.test(entry.resource))].map(
    (entry) => entry.object,
  );
  const namespace = onlyObject(objects, "Namespace", /./);
  const applied = await apply([namespace]);
  if (applied.code !== 0) throw new Error(`creating the namespace failed: ${applied.stderr}`);
});

afterAll(async () => {
  await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: monitoring ?? [] }));
});

/** kubectl's resource names of the kinds above. */
const RESOURCE: Record<string, string> = {
  PodMonitor: "podmonitors.monitoring.coreos.com",
  ServiceMonitor: "servicemonitors.monitoring.coreos.com",
  PrometheusRule: "prometheusrules.monitoring.coreos.com",
  ConfigMap: "configmaps",
};

/** The object as the API server stores it. */
function get(object: KubernetesObject): Promise<KubernetesObject & { spec?: unknown; data?: Record<string, string> }> {
  return getJson(["-n", object.metadata.namespace ?? NAMESPACE, "get", RESOURCE[object.kind], object.metadata.name]);
}

/** Where `actual` differs from `expected` at a key path of `expected`: the server may add defaults, but must not drop or change ours. */
function differencesFrom(expected: unknown, actual: unknown, path = "$"): string[] {
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object") return [`${path}: ${JSON.stringify(actual)}`];
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual) || actual.length !== expected.length) return [`${path}: length ${Array.isArray(actual) ? actual.length : "none"} != ${expected.length}`];
      return expected.flatMap((item, i) => differencesFrom(item, actual[i], `${path}[${i}]`));
    }
    return Object.entries(expected).flatMap(([key, item]) => differencesFrom(item, (actual as Record<string, unknown>)[key], `${path}.${key}`));
  }
  return expected === actual ? [] : [`${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`];
}

describe("the Prometheus Operator's CRDs on the real API server", () => {
  it("are established, in the version the components use", async () => {
    const rows = [];
    for (const name of CRDS) {
      const crd = await getJson<{ spec: { versions: Array<{ name: string; served: boolean; storage: boolean }> }; status: { conditions: Array<{ type: string; status: string }> } }>([
        "get",
        "customresourcedefinition",
        name,
      ]);
      const established = crd.status.conditions.find((condition) => condition.type === "Established")?.status;
      rows.push({ crd: name, versions: crd.spec.versions.map((version) => version.name).join(","), established });
      expect(established).toBe("True");
      expect(crd.spec.versions.filter((version) => version.served && version.storage).map((version) => version.name)).toEqual(["v1"]);
    }
    report("Prometheus Operator CRDs", rows);
  });
});

describe("the components' monitoring objects on the real API server", () => {
  it("declares one of each: ServiceMonitor, PrometheusRule, PodMonitor and the dashboard ConfigMap", () => {
    expect(monitoring.map((object) => [object.kind, object.metadata.name])).toEqual([
      ["ServiceMonitor", `${WIRING.gatewayName}-metrics`],
      ["PrometheusRule", "iot-udp-ingress"],
      ["PodMonitor", "envoy-udp-ingress"],
      ["ConfigMap", "iot-udp-ingress-dashboard"],
    ]);
  });

  it("are admitted under strict field validation and stored without a field dropped or changed", async () => {
    const applied = await apply(monitoring);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    const rows = [];
    for (const object of monitoring) {
      const stored = await get(object);
      const body = object.kind === "ConfigMap" ? "data" : "spec";
      const differences = differencesFrom(object[body], stored[body], body);
      rows.push({ kind: object.kind, name: object.metadata.name, differences: differences.length });
      expect(differences).toEqual([]);
      expect(differencesFrom(object.metadata.labels, stored.metadata.labels, "metadata.labels")).toEqual([]);
    }
    report("monitoring objects applied and read back", rows);
  });

  it("the ServiceMonitor selects the gateway's metrics Service and names one of its ports", async () => {
    const rest = ofKinds(objects, "Service", "EndpointSlice").filter((entry) => /-metrics$/.test(entry.resource)).map((entry) => entry.object);
    const applied = await apply(rest);
    expect(applied.code).toBe(0);
    try {
      const monitor = onlyObject(objects, "ServiceMonitor", /./) as KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> } };
      const selector = Object.entries(monitor.spec.selector.matchLabels).map(([key, value]) => `${key}=${value}`).join(",");
      // The API server's own label selection, as the operator's Service discovery does.
      const services = await getJson<{ items: Array<{ metadata: { name: string }; spec: { ports: Array<{ name: string }> } }> }>(["-n", NAMESPACE, "get", "services", "-l", selector]);
      expect(services.items.map((service) => service.metadata.name)).toEqual([`${WIRING.gatewayName}-metrics`]);
      expect(services.items[0].spec.ports.map((port) => port.name)).toContain(monitor.spec.endpoints[0].port);
    } finally {
      await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: rest }));
    }
  });

  it("the PodMonitor selects the Envoy DaemonSet's pods and names their stats port", () => {
    const monitor = onlyObject(objects, "PodMonitor", /./) as KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Array<{ port: string }> } };
    const daemonSet = onlyObject(objects, "DaemonSet", /./) as KubernetesObject & {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports?: Array<{ name?: string }> }> } } };
    };
    const labels = daemonSet.spec.template.metadata.labels;
    expect(Object.entries(monitor.spec.selector.matchLabels).filter(([key, value]) => labels[key] !== value)).toEqual([]);
    const ports = daemonSet.spec.template.spec.containers.flatMap((container) => container.ports ?? []).map((port) => port.name);
    expect(ports).toContain(monitor.spec.podMetricsEndpoints[0].port);
  });

  // The checks above would pass against a schema that accepts anything; these show the CRDs' schemas are enforced.
  it.each([
    ["an unknown field", "PodMonitor", (spec: any) => ({ ...spec, podMetricEndpoints: spec.podMetricsEndpoints }), /unknown field "podMetricEndpoints" in com\.coreos\.monitoring\.v1\.PodMonitor\.spec/],
    ["a port number where a port name goes", "ServiceMonitor", (spec: any) => ({ ...spec, endpoints: [{ ...spec.endpoints[0], port: 9100 }] }), /\.spec\.endpoints\[0\]\.port: expected string/],
    [
      "a duration Prometheus cannot parse",
      "PrometheusRule",
      (spec: any) => ({ groups: [{ ...spec.groups[0], rules: [{ ...spec.groups[0].rules[0], for: "5 minutes" }] }] }),
      /spec.groups\[0\].rules\[0\].for: Invalid value: "5 minutes"/,
    ],
  ])("rejects %s in a %s", async (_what, kind, broken, message) => {
    const object = monitoring.find((candidate) => candidate.kind === kind)!;
    const bad = { ...object, metadata: { ...object.metadata, name: `${object.metadata.name}-broken` }, spec: broken(object.spec) };
    const applied = await apply([bad]);
    await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", "-"], JSON.stringify(bad));
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toMatch(message);
  });
});
