import { readFileSync } from "fs";
import {
  DEFAULT_LEADERSHIP_PATHS,
  LEADERSHIP_DEFAULTS,
  SHELL_PARAMETERS_MARKER,
  gatewayScriptPath,
  leadershipAgentParameters,
  leadershipRbacRules,
  renderLeadershipAgentScript,
  renderShellParameters,
  resolveGatewayLeadership,
  type GatewayLeadershipOptions,
  type LeadershipPaths,
} from "../../infra/gateway";
import { PlanError } from "../../infra/problems";
import { planProblems } from "../support/plan-problems";

// The leadership agent's options, parameters and RBAC; the script itself runs against a real API server in
// test/cluster/leadership.cluster-test.ts.

const options: GatewayLeadershipOptions = {
  leaseName: "iot-gateway-pair",
  namespace: "iot-ingress",
  identity: "gw-a",
  onActive: ["/usr/bin/systemctl", "start", "iot-forwarding.target"],
  onStandby: ["/usr/bin/systemctl", "stop", "iot-forwarding.target"],
};

const paths: LeadershipPaths = {
  kubectl: "/opt/kubectl",
  kubeconfig: "/etc/pair/kubeconfig",
  jq: "/opt/jq",
  textfileDir: "/srv/textfile",
  leadershipStateDir: "/srv/leadership",
};

/** Every problem of the options, as `path: message`, or [] when they resolve. */
function problems(overrides: Partial<GatewayLeadershipOptions>): string[] {
  return planProblems(() => resolveGatewayLeadership({ ...options, ...overrides }));
}

describe("leadership options", () => {
  it("default to client-go's core-client timings", () => {
    expect(LEADERSHIP_DEFAULTS).toEqual({ leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 });
    expect(resolveGatewayLeadership(options)).toEqual({ ...options, leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 });
    expect(DEFAULT_LEADERSHIP_PATHS).toEqual({
      kubectl: "/usr/local/bin/kubectl",
      kubeconfig: "/etc/iot-gateway/kubeconfig",
      jq: "/usr/bin/jq",
      textfileDir: "/var/lib/prometheus/node-exporter",
      leadershipStateDir: "/var/lib/iot-gateway-leadership",
    });
  });

  it("accept the tightest timings that still fence before a takeover", () => {
    expect(problems({ leaseDurationSeconds: 5, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 })).toEqual([]);
    expect(problems({ leaseDurationSeconds: 4, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 })).toEqual([]);
  });

  it("name the option of every problem, all at once", () => {
    let thrown: unknown;
    try {
      resolveGatewayLeadership({ ...options, leaseName: "Pair", namespace: "", identity: "", onActive: [], onStandby: [""] });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PlanError);
    expect((thrown as PlanError).message).toBe(
      [
        "invalid gateway leadership:",
        `  - leaseName: must be a DNS subdomain (lower case letters, digits, '-' and '.', at most 253 characters), got "Pair"`,
        `  - namespace: must be a DNS label (lower case letters, digits and '-', at most 63 characters), got ""`,
        `  - identity: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got ""`,
        "  - onActive: must be a command: a non-empty argv whose first word names the program",
        "  - onStandby: must be a command: a non-empty argv whose first word names the program",
      ].join("\n"),
    );
  });

  it.each<[string, Partial<GatewayLeadershipOptions>, string[]]>([
    ["a lease name over 253 characters", { leaseName: "a".repeat(254) }, [`leaseName: must be a DNS subdomain (lower case letters, digits, '-' and '.', at most 253 characters), got "${"a".repeat(254)}"`]],
    ["a lease name ending in a dot", { leaseName: "pair." }, [`leaseName: must be a DNS subdomain (lower case letters, digits, '-' and '.', at most 253 characters), got "pair."`]],
    ["a namespace with a dot", { namespace: "iot.ingress" }, [`namespace: must be a DNS label (lower case letters, digits and '-', at most 63 characters), got "iot.ingress"`]],
    ["a namespace over 63 characters", { namespace: "n".repeat(64) }, [`namespace: must be a DNS label (lower case letters, digits and '-', at most 63 characters), got "${"n".repeat(64)}"`]],
    ["an identity with a space", { identity: "gw a" }, [`identity: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got "gw a"`]],
    ["an identity with a quote", { identity: 'gw"a' }, [`identity: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got "gw\\"a"`]],
    ["an identity over 128 characters", { identity: "g".repeat(129) }, [`identity: must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got "${"g".repeat(129)}"`]],
    ["a zero lease duration", { leaseDurationSeconds: 0 }, ["leaseDurationSeconds: must be an integer from 1 to 3600"]],
    ["a fractional renew deadline", { renewDeadlineSeconds: 2.5 }, ["renewDeadlineSeconds: must be an integer from 1 to 3600"]],
    ["a retry period over an hour", { retryPeriodSeconds: 3601 }, ["retryPeriodSeconds: must be an integer from 1 to 3600"]],
    ["a renew deadline equal to the lease duration", { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 }, ["renewDeadlineSeconds: must be less than leaseDurationSeconds (10), got 10"]],
    ["a renew deadline over the lease duration", { renewDeadlineSeconds: 20 }, ["renewDeadlineSeconds: must be less than leaseDurationSeconds (15), got 20"]],
    [
      "a renew deadline that leaves no retry period of margin",
      { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 },
      ["renewDeadlineSeconds: plus retryPeriodSeconds (1) must be less than leaseDurationSeconds (4), got 3: a holder that cannot renew must stop forwarding before the other gateway may take over"],
    ],
    [
      "a retry period close to the renew deadline",
      { leaseDurationSeconds: 15, renewDeadlineSeconds: 6, retryPeriodSeconds: 5 },
      ["retryPeriodSeconds: times 1.2 must be less than renewDeadlineSeconds (6), got 5: a holder needs a retry before its deadline"],
    ],
  ])("reject %s", (_name, overrides, expected) => {
    expect(problems(overrides)).toEqual(expected);
  });
});

describe("leadership agent parameters", () => {
  it("are exactly the options, paths and exit statuses", () => {
    expect(leadershipAgentParameters({ ...options, leaseDurationSeconds: 5, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 }, paths)).toEqual([
      { name: "KUBECTL", value: "/opt/kubectl" },
      { name: "KUBECONFIG_FILE", value: "/etc/pair/kubeconfig" },
      { name: "JQ", value: "/opt/jq" },
      { name: "LEASE_NAME", value: "iot-gateway-pair" },
      { name: "LEASE_NAMESPACE", value: "iot-ingress" },
      { name: "IDENTITY", value: "gw-a" },
      { name: "LEASE_DURATION", value: 5, comment: "seconds" },
      { name: "RENEW_DEADLINE", value: 3, comment: "seconds" },
      { name: "RETRY_PERIOD", value: 1, comment: "seconds" },
      { name: "STATE_DIR", value: "/srv/leadership" },
      { name: "STATE_FILE", value: "/srv/leadership/leadership.json" },
      { name: "TEXTFILE_DIR", value: "/srv/textfile" },
      { name: "METRICS_FILE", value: "iot_gateway_leadership.prom" },
      { name: "ON_ACTIVE", value: ["/usr/bin/systemctl", "start", "iot-forwarding.target"] },
      { name: "ON_STANDBY", value: ["/usr/bin/systemctl", "stop", "iot-forwarding.target"] },
      { name: "EXIT_API_ERROR", value: 2 },
      { name: "EXIT_LOST_RACE", value: 3 },
      { name: "EXIT_FENCED", value: 4 },
      { name: "EXIT_HOOK_FAILED", value: 5 },
    ]);
  });

  it("use the defaults and the VM's paths when given none", () => {
    const rendered = renderShellParameters(leadershipAgentParameters(options));
    expect(rendered).toBe(
      [
        "readonly KUBECTL=/usr/local/bin/kubectl",
        "readonly KUBECONFIG_FILE=/etc/iot-gateway/kubeconfig",
        "readonly JQ=/usr/bin/jq",
        "readonly LEASE_NAME=iot-gateway-pair",
        "readonly LEASE_NAMESPACE=iot-ingress",
        "readonly IDENTITY=gw-a",
        "# seconds",
        "readonly LEASE_DURATION=15",
        "# seconds",
        "readonly RENEW_DEADLINE=10",
        "# seconds",
        "readonly RETRY_PERIOD=2",
        "readonly STATE_DIR=/var/lib/iot-gateway-leadership",
        "readonly STATE_FILE=/var/lib/iot-gateway-leadership/leadership.json",
        "readonly TEXTFILE_DIR=/var/lib/prometheus/node-exporter",
        "readonly METRICS_FILE=iot_gateway_leadership.prom",
        "readonly ON_ACTIVE=(/usr/bin/systemctl start iot-forwarding.target)",
        "readonly ON_STANDBY=(/usr/bin/systemctl stop iot-forwarding.target)",
        "readonly EXIT_API_ERROR=2",
        "readonly EXIT_LOST_RACE=3",
        "readonly EXIT_FENCED=4",
        "readonly EXIT_HOOK_FAILED=5",
        "",
      ].join("\n"),
    );
  });

  it("refuse to render from options that do not resolve", () => {
    expect(() => leadershipAgentParameters({ ...options, renewDeadlineSeconds: 15 })).toThrow(
      "invalid gateway leadership:\n  - renewDeadlineSeconds: must be less than leaseDurationSeconds (15), got 15",
    );
    expect(() => renderLeadershipAgentScript({ ...options, identity: "" })).toThrow(/identity: must be 1 to 128/);
    expect(() => leadershipRbacRules({ ...options, leaseName: "" })).toThrow(/leaseName: must be a DNS subdomain/);
  });
});

describe("gateway-leadership.sh", () => {
  const text = readFileSync(gatewayScriptPath("gateway-leadership.sh"), "utf8");

  it("gets its parameters in place of the marker line, the rest of the file unchanged", () => {
    expect(text.split("\n").filter((line) => line === SHELL_PARAMETERS_MARKER)).toHaveLength(1);
    expect(renderLeadershipAgentScript(options, paths)).toBe(
      text.replace(`${SHELL_PARAMETERS_MARKER}\n`, renderShellParameters(leadershipAgentParameters(options, paths))),
    );
  });

  it("reads every parameter and no other upper-case variable", () => {
    // CACHE_DIRECTORY comes from systemd (CacheDirectory=), EPOCHREALTIME from bash.
    const fromEnvironment = ["CACHE_DIRECTORY", "EPOCHREALTIME"];
    const code = text
      .split("\n")
      .filter((line) => !/^\s*#/.test(line))
      .join("\n");
    const read = [...new Set([...code.matchAll(/\$\{?!?([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]))].filter((name) => !fromEnvironment.includes(name));
    expect(read.sort()).toEqual(leadershipAgentParameters(options).map((parameter) => parameter.name).sort());
    expect(code).toContain("${CACHE_DIRECTORY:-/var/cache/iot-gateway-leadership}");
  });

  it("writes the Lease only with the resourceVersion it read: replace of the object as read, create when absent", () => {
    // What the cluster test shows to matter: a replace without the resourceVersion lets two gateways win one race.
    expect(text).toContain(`'.spec = {holderIdentity: $holder, leaseDurationSeconds: $duration, acquireTime: $acquire, renewTime: $renew, leaseTransitions: $transitions}' \\\n        "$work/lease.json" >"$work/write.json"`);
    expect(text).toContain('select(.kind == "Lease" and (.metadata.resourceVersion | type == "string" and length > 0))');
    expect(text.match(/kube "\$verb"/g)).toHaveLength(1);
    expect(text).toContain("write_lease create created");
    expect(text).toContain('write_lease replace "$result"');
    const code = text.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
    expect(code).not.toMatch(/ (apply|patch|--force|--overwrite)\b/);
  });
});

describe("leadership RBAC rules", () => {
  it("are get and update of the pair's Lease by name, and create of leases (which RBAC cannot restrict by name)", () => {
    expect(leadershipRbacRules(options)).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["iot-gateway-pair"], verbs: ["get", "update"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    ]);
  });
});
