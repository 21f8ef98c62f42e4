import { AlertRuleOptionsError, buildAlertRules } from "../../infra/observability/alerts";
import { alertNames, cases, options, rules } from "./support/alert-cases";

// promtool runs the rules and their unit tests in alerts.system-test.ts.

describe("alert rules", () => {
  it("have a unit test for every alert, and each one says what to check", () => {
    expect(cases.map((c) => c.alert).sort()).toEqual([...alertNames].sort());
    for (const rule of buildAlertRules(options).groups.flatMap((g) => g.rules)) expect(rule.annotations.check.length).toBeGreaterThan(20);
  });

  it("render the budget and the steering interval in, and refuse bad options", () => {
    expect(rules).toContain('envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp"} > 800');
    expect(rules).toContain("time() - iot_gateway_steering_last_success_timestamp_seconds > 90");
    expect(() => buildAlertRules({ ...options, maxConnections: 0 })).toThrow(AlertRuleOptionsError);
    expect(() => buildAlertRules({ ...options, steeringIntervalSeconds: 1.5 })).toThrow("steeringIntervalSeconds must be a positive integer");
    expect(() => buildAlertRules({ ...options, uplinkInterface: 'wg"x' })).toThrow("uplinkInterface must be an interface name");
  });
});
