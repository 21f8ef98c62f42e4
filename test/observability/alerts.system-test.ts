import { cases, rules, unitTests } from "./support/alert-cases";
import { checkRules, testRules } from "./support/promtool";

describe("alert rules", () => {
  it("pass promtool check rules", () => {
    const result = checkRules(rules);
    expect(result.output).toContain("SUCCESS: 9 rules found");
    expect(result.status).toBe(0);
  });

  it("fire on the series that should fire them (promtool test rules)", () => {
    const result = testRules(rules, unitTests("fires"));
    expect(result.output).toContain("SUCCESS");
    expect(result.status).toBe(0);
  });

  it("stay silent on the series that should not (promtool test rules)", () => {
    const result = testRules(rules, unitTests("silent"));
    expect(result.output).toContain("SUCCESS");
    expect(result.status).toBe(0);
  });

  it("the checks fail on broken input: a bad expression, and a swapped fires/silent expectation", () => {
    const broken = checkRules(rules.replace("> 0.8", "> > 0.8"));
    expect(broken.status).not.toBe(0);
    // Each case's series against the opposite expectation must fail, for every alert: the tests can tell.
    for (const c of cases) {
      for (const [series, expectation] of [["silent", "fires"], ["fires", "silent"]] as const) {
        const result = testRules(rules, unitTests(series, c.alert, expectation));
        expect([c.alert, series, result.output]).toEqual([c.alert, series, expect.stringContaining(`FAILED:\n    alertname: ${c.alert}`)]);
      }
    }
  });
});
