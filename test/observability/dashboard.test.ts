import * as fs from "fs";
import * as path from "path";
import { gatewayScriptPath } from "../../infra/gateway";
import { buildDashboard, DASHBOARD_FILE, dashboardExpressions, DashboardOptionsError, renderDashboard, type Dashboard } from "../../infra/observability/dashboard";

// promtool parses and evaluates the panel queries in dashboard.system-test.ts.

const CHECKED_IN = path.join(__dirname, "..", "..", "infra", "observability", DASHBOARD_FILE);
const dashboard = buildDashboard();

/** The metric names an expression reads (label matchers left out; PromQL functions are never of these two families). */
function metricNames(expr: string): string[] {
  return [...expr.replace(/\{[^}]*\}/g, "").matchAll(/\b(envoy_[a-z_]+|iot_gateway_[a-z_]+)\b/g)].map((match) => match[1]);
}

/** The families gateway-metrics.jq writes: the gateway's only metric names. */
const GATEWAY_FAMILIES = new Set(
  [...fs.readFileSync(gatewayScriptPath("gateway-metrics.jq"), "utf8").matchAll(/family\("(iot_gateway_[a-z_]+)"/g)].map((match) => match[1]),
);

/**
 * Envoy's stats as its Prometheus output names them for this bootstrap: the udp_proxy's downstream stats
 * (`udp.<stat_prefix>.*`, envoy source/extensions/filters/udp/udp_proxy/udp_proxy_filter.h
 * ALL_UDP_PROXY_DOWNSTREAM_STATS), its per-cluster stats (`cluster.<name>.udp.*`, ALL_UDP_PROXY_UPSTREAM_STATS), and
 * the cluster's standard stats used here: upstream_cx_overflow, membership gauges, and the circuit breaker's
 * remaining_cx (present because the bootstrap sets track_remaining). Names keep Envoy's spelling: no `_total` added.
 */
const ENVOY_NAMES = new Set([
  ...["no_route", "total", "active", "rx_bytes", "rx_datagrams", "rx_errors", "tx_bytes", "tx_datagrams", "tx_errors"].map((s) => `envoy_udp_downstream_sess_${s}`),
  ...["rx_datagrams", "rx_datagrams_dropped", "rx_errors", "tx_datagrams", "tx_errors"].map((s) => `envoy_cluster_udp_sess_${s}`),
  "envoy_cluster_upstream_cx_overflow",
  "envoy_cluster_membership_healthy",
  "envoy_cluster_membership_total",
  "envoy_cluster_circuit_breakers_default_remaining_cx",
]);

function unknownNames(d: Dashboard): string[] {
  return dashboardExpressions(d)
    .flatMap((query) => metricNames(query.expr))
    .filter((name) => !GATEWAY_FAMILIES.has(name) && !ENVOY_NAMES.has(name));
}

describe("the Grafana dashboard", () => {
  it("is not named like its module: Node resolves `./dashboard` to a .json before ts-node's .ts", () => {
    expect(DASHBOARD_FILE).not.toBe("dashboard.json");
    expect(fs.existsSync(path.join(__dirname, "..", "..", "infra", "observability", "dashboard.json"))).toBe(false);
  });

  it("is checked in as rendered (regenerate: npx tsx -e 'process.stdout.write(require(\"./infra/observability/dashboard\").renderDashboard())' > infra/observability/iot-udp-ingress.json)", () => {
    expect(fs.readFileSync(CHECKED_IN, "utf8")).toBe(renderDashboard());
    expect(JSON.parse(fs.readFileSync(CHECKED_IN, "utf8"))).toEqual(dashboard);
  });

  it("has the panels an operator needs, each with a query and a unique id and place", () => {
    expect(dashboard.panels.map((panel) => panel.title)).toEqual(
      expect.arrayContaining([
        "Datagrams in, per node",
        "Datagrams out, per node",
        "Sessions against budget, per node",
        "Drops by reason",
        "Steering targets",
        "Steering changes",
        "WireGuard handshake age",
      ]),
    );
    for (const panel of dashboard.panels) expect([panel.title, panel.targets.length]).toEqual([panel.title, expect.any(Number)]);
    expect(dashboard.panels.every((panel) => panel.targets.length > 0)).toBe(true);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    expect(new Set(dashboard.panels.map((panel) => `${panel.gridPos.x},${panel.gridPos.y}`)).size).toBe(dashboard.panels.length);
    // The datasource is chosen in Grafana: no panel is tied to one Grafana's datasource uid.
    expect(JSON.stringify(dashboard).match(/"uid":"[^"]*"/g)?.filter((uid) => uid !== '"uid":"${datasource}"' && uid !== '"uid":"iot-udp-ingress"')).toEqual([]);
  });

  it("reads only series the gateway and Envoy export, and the name check catches a misspelling", () => {
    expect(GATEWAY_FAMILIES.size).toBeGreaterThan(15);
    expect(unknownNames(dashboard)).toEqual([]);
    const names = new Set(dashboardExpressions(dashboard).flatMap((query) => metricNames(query.expr)));
    // The drops panel covers both proxies' reasons, the budget panel the circuit breaker.
    for (const name of ["envoy_udp_downstream_sess_no_route", "envoy_cluster_upstream_cx_overflow", "iot_gateway_forward_dropped_packets_total", "envoy_cluster_circuit_breakers_default_remaining_cx"]) {
      expect(names).toContain(name);
    }
    const misspelt = structuredClone(dashboard);
    misspelt.panels[0].targets[0].expr = misspelt.panels[0].targets[0].expr.replace("envoy_udp_downstream_sess_rx_datagrams", "envoy_udp_downstream_sess_rx_datagrams_total");
    expect(unknownNames(misspelt)).toEqual(["envoy_udp_downstream_sess_rx_datagrams_total"]);
  });

  it("selects a bootstrap's own names, and refuses names that are not Envoy stat names", () => {
    const other = buildDashboard({ statPrefix: "udp_in", clusterName: "decoders" });
    const text = JSON.stringify(other);
    expect(text).toContain('envoy_udp_prefix=\\"udp_in\\"');
    expect(text).toContain('envoy_cluster_name=\\"decoders\\"');
    expect(text).not.toContain("iot_udp");
    expect(() => buildDashboard({ statPrefix: 'x"}' })).toThrow(DashboardOptionsError);
    expect(() => buildDashboard({ clusterName: "" })).toThrow('clusterName must be an Envoy stat name (letters, digits, _), got ""');
  });
});
