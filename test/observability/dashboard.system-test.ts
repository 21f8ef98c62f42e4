import { stringify } from "yaml";
import { buildDashboard, dashboardExpressions } from "../../infra/observability/dashboard";
import { checkRules, testRules } from "./support/promtool";

const dashboard = buildDashboard();

/** Every panel query as a recording rule, so that promtool parses each one as PromQL. */
function asRecordingRules(queries: ReturnType<typeof dashboardExpressions>): string {
  return stringify({
    groups: [
      {
        name: "iot-udp-ingress-dashboard",
        rules: queries.map((query, index) => ({ record: `iot_udp_ingress_dashboard:query_${index}:${query.refId.toLowerCase()}`, expr: query.expr })),
      },
    ],
  });
}

describe("the Grafana dashboard", () => {
  it("has only valid PromQL (every query passes promtool check rules as a recording rule)", () => {
    const queries = dashboardExpressions(dashboard);
    const result = checkRules(asRecordingRules(queries));
    expect(result.output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(result.status).toBe(0);
  });

  it("the PromQL check fails on a broken expression", () => {
    const queries = dashboardExpressions(dashboard);
    const broken = queries.map((query, index) => (index === 2 ? { ...query, expr: query.expr.replace(/\)\s*$/, "") } : query));
    expect(broken[2].expr).not.toBe(queries[2].expr);
    const result = checkRules(asRecordingRules(broken));
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/parse error|unclosed|expected/i);
  });

  it("computes the session budget and the handshake age from the series as promtool evaluates them", () => {
    const expression = (title: string, refId: string) =>
      dashboardExpressions(dashboard).find((query) => query.panel === title && query.refId === refId)!.expr;
    const rules = stringify({
      groups: [
        {
          name: "checks",
          rules: [
            { record: "budget", expr: expression("Sessions against budget, per node", "B") },
            { record: "handshake_age", expr: expression("WireGuard handshake age", "A") },
            { record: "never_handshaken", expr: expression("WireGuard handshake age", "B") },
          ],
        },
      ],
    });
    const node = 'instance="node-1:9902"';
    const gw = 'instance="10.5.0.1:9100"';
    const tests = stringify({
      rule_files: ["rules.yaml"],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            { series: `envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp",${node}}`, values: "400x5" },
            { series: `envoy_cluster_circuit_breakers_default_remaining_cx{envoy_cluster_name="decoder",${node}}`, values: "1100x5" },
            // A handshake at t=60 s, seen at t=300 s: 240 s old. A peer that never shook hands reports 0.
            { series: `iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="wg-uplink",peer="c1",public_key="k1",${gw}}`, values: "60x5" },
            { series: `iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="kilo0",public_key="k2",${gw}}`, values: "0x5" },
          ],
          promql_expr_test: [
            { expr: "budget", eval_time: "5m", exp_samples: [{ labels: `budget{${node}}`, value: 1500 }] },
            {
              expr: "handshake_age",
              eval_time: "5m",
              exp_samples: [{ labels: `handshake_age{interface="wg-uplink",peer="c1",public_key="k1",${gw}}`, value: 240 }],
            },
            { expr: "never_handshaken", eval_time: "5m", exp_samples: [{ labels: 'never_handshaken{interface="kilo0"}', value: 1 }] },
          ],
        },
      ],
    });
    const result = testRules(rules, tests);
    expect(result.output).toContain("SUCCESS");
    expect(result.status).toBe(0);
    // And the same test against a wrong budget fails: it can tell.
    const wrong = testRules(rules, tests.replace("value: 1500", "value: 1400"));
    expect(wrong.status).not.toBe(0);
  });
});
