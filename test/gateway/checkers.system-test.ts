import { readFileSync, writeFileSync } from "fs";
import { join } from "path";
import {
  DEFAULT_GATEWAY_PATHS,
  gatewayPairLeadershipOptions,
  gatewayPairRoleOptions,
  gatewayPairUnits,
  gatewayScriptPath,
  gatewayUnits,
  renderBootstrapScript,
  renderGatewayCloudInit,
  renderGatewayRuleset,
  renderGatewayRoleScript,
  renderLeadershipAgentScript,
  renderPairBootstrapScript,
  renderSteeringAgentScript,
  renderSystemdUnit,
  resolveGatewayLeadership,
  type GatewayScriptFile,
} from "../../infra/gateway";
import { run, type RunResult } from "../../harness/commands";
import { withTempDir } from "../../harness/temp";
import { cloudInitSchema, nftCheck, shellcheck, shellcheckFile, systemdVerify } from "./support/checkers";
import { GATEWAY_SECRETS, PAIR_MEMBER, PAIR_SECRETS, gatewayPlan } from "./support/plan";
import { renderSteeringUpdate } from "./support/steering-oracle";

// Every artifact passes the real tool of its ecosystem, and each check is shown to fail on a broken input.

const options = gatewayPlan();
const rewriting = gatewayPlan({ downlinkSourceRewrite: true });
const unitTexts = gatewayUnits(options).map((unit) => ({ name: unit.name, text: renderSystemdUnit(unit) }));
const executables = [DEFAULT_GATEWAY_PATHS.kgctl, DEFAULT_GATEWAY_PATHS.steeringAgentScript];
// A gateway of an active/standby pair (infra/gateway/cloud-init.ts, GatewayPairMember).
const pair = { member: PAIR_MEMBER, secrets: PAIR_SECRETS };
const pairUnitTexts = gatewayPairUnits(options, resolveGatewayLeadership(gatewayPairLeadershipOptions(PAIR_MEMBER))).map((unit) => ({
  name: unit.name,
  text: renderSystemdUnit(unit),
}));
const pairExecutables = [...executables, DEFAULT_GATEWAY_PATHS.leadershipAgentScript, DEFAULT_GATEWAY_PATHS.ip];

describe("shellcheck", () => {
  it.each([
    ["steering agent", renderSteeringAgentScript(options)],
    ["bootstrap", renderBootstrapScript(options)],
    ["role hook", renderGatewayRoleScript({ zone: "fr-par-1", sharedIpId: "0b4c1f0e-3a59-4d8e-9a51-2f6f3c1d7e42", sharedAddress: "51.15.10.20", publicInterface: "ens2", startForwarding: ["/usr/bin/systemctl", "start", "kilo-connect.service"], stopForwarding: ["/usr/bin/systemctl", "stop", "kilo-connect.service"] })],
    ["leadership agent", renderLeadershipAgentScript({ leaseName: "iot-gateway", namespace: "iot-gateway", identity: "gateway-a", onActive: ["/usr/local/sbin/iot-gateway-role", "active"], onStandby: ["/usr/local/sbin/iot-gateway-role", "standby"] })],
    ["pair's leadership agent", renderLeadershipAgentScript(gatewayPairLeadershipOptions(PAIR_MEMBER), DEFAULT_GATEWAY_PATHS)],
    ["pair's role hook", renderGatewayRoleScript(gatewayPairRoleOptions(options, PAIR_MEMBER))],
    ["pair's bootstrap", renderPairBootstrapScript(options)],
  ])("passes the %s script", (_name, script) => {
    const result = shellcheck(script);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it.each<GatewayScriptFile>(["first-boot.sh", "steering-agent.sh", "gateway-leadership.sh", "gateway-role.sh"])("passes the script file %s as it is in the repository", (name) => {
    const result = shellcheckFile(gatewayScriptPath(name));
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it.each<[GatewayScriptFile, string, string]>([
    ["first-boot.sh", '"$NFT" -f "$NFTABLES_CONF"', "$NFT -f $NFTABLES_CONF"],
    ["steering-agent.sh", 'mkdir -p "$STATE_DIR" "$RUN_DIR"', "mkdir -p $STATE_DIR $RUN_DIR"],
    ["gateway-leadership.sh", '  mkdir -p "$STATE_DIR"\n', "  mkdir -p $STATE_DIR\n"],
    ["gateway-role.sh", '  mkdir -p "$RUN_DIR"\n', "  mkdir -p $RUN_DIR\n"],
  ])("fails on a copy of %s with an unquoted expansion", (name, quoted, unquoted) => {
    const text = readFileSync(gatewayScriptPath(name), "utf8");
    expect(text).toContain(quoted);
    const result = shellcheck(text.replace(quoted, unquoted));
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain("SC2086");
  });

  it("fails on a script with an unquoted expansion", () => {
    const broken = renderBootstrapScript(options).replace('install -m 0755 "$download" "$target"', "install -m 0755 $download $target");
    const result = shellcheck(broken);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain("SC2086");
  });
});

describe("cloud-init schema", () => {
  it.each([false, true])("accepts the rendered user data (downlinkSourceRewrite %s)", (rewrite) => {
    const result = cloudInitSchema(renderGatewayCloudInit(gatewayPlan({ downlinkSourceRewrite: rewrite }), GATEWAY_SECRETS));
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("Valid cloud-config");
    expect(result.status).toBe(0);
  });

  it.each(["iot-gateway-a", "iot-gateway-b"])("accepts the user data of the pair member %s", (identity) => {
    const result = cloudInitSchema(renderGatewayCloudInit(options, GATEWAY_SECRETS, { ...pair, member: { ...PAIR_MEMBER, identity } }));
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("Valid cloud-config");
    expect(result.status).toBe(0);
  });

  it("rejects a pair member's user data with a file mode of the wrong type", () => {
    const text = renderGatewayCloudInit(options, GATEWAY_SECRETS, pair);
    const secretKeyFile = 'path: /etc/iot-gateway/scaleway-secret-key\n    content: 99999999-8888-4777-8666-555555555555\n    owner: root:root\n    permissions: "0600"';
    expect(text).toContain(secretKeyFile);
    const result = cloudInitSchema(text.replace(secretKeyFile, secretKeyFile.replace('permissions: "0600"', "permissions: [0600]")));
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain("permissions");
  });

  it("rejects a wrong key type", () => {
    const broken = renderGatewayCloudInit(gatewayPlan(), GATEWAY_SECRETS).replace("package_update: true", "package_update: sometimes");
    const result = cloudInitSchema(broken);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("package_update");
  });
});

describe("systemd-analyze verify", () => {
  it("passes every unit", () => {
    const result = systemdVerify(unitTexts, executables);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("passes every unit of a pair member", () => {
    const result = systemdVerify(pairUnitTexts, pairExecutables);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("fails when the pair's leadership agent does not exist", () => {
    const result = systemdVerify(pairUnitTexts, [...executables, DEFAULT_GATEWAY_PATHS.ip]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("/usr/local/sbin/iot-gateway-leadership is not executable");
  });

  it("fails on an invalid directive of the pair's timer", () => {
    const broken = pairUnitTexts.map((unit) => ({ ...unit, text: unit.text.replace("AccuracySec=100ms", "AccuracySec=soon") }));
    const result = systemdVerify(broken, pairExecutables);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("soon");
  });

  it("fails when an ExecStart binary does not exist", () => {
    const result = systemdVerify(unitTexts, [DEFAULT_GATEWAY_PATHS.steeringAgentScript]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("/usr/local/bin/kgctl is not executable");
  });

  it("fails on an invalid directive", () => {
    const broken = unitTexts.map((unit) => ({ ...unit, text: unit.text.replace("Restart=always", "Restart=sometimes") }));
    const result = systemdVerify(broken, executables);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("sometimes");
  });
});

describe("nft -c -f", () => {
  it.each([
    ["without downlink rewrite", options],
    ["with downlink rewrite", rewriting],
  ])("accepts the ruleset %s", (_name, resolved) => {
    const result = nftCheck(renderGatewayRuleset(resolved));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("accepts the steering transaction on top of the ruleset", () => {
    const update = renderSteeringUpdate([{ name: "a", address: "100.64.7.1" }, { name: "b", address: "100.64.9.1" }], { buckets: options.steering.buckets, seed: 0 });
    const result = nftCheck(update, renderGatewayRuleset(options));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("rejects the steering transaction without the ruleset it updates", () => {
    const update = renderSteeringUpdate([{ name: "a", address: "100.64.7.1" }], { buckets: 4, seed: 0 });
    expect(nftCheck(update).status).not.toBe(0);
  });

  it("rejects a broken ruleset", () => {
    const broken = renderGatewayRuleset(options).replace("policy drop;", "policy dorp;");
    const result = nftCheck(broken);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("dorp");
  });
});

/** Runs a jq program file the way the agent does: `jq -f <file>` with its arguments, on `input` (`-n`: none). */
function jqFile(file: string, args: readonly string[], input: string | null): RunResult {
  return run("jq", [...(input === null ? ["-n"] : []), "-c", ...args, "-f", file], input ?? "");
}

// Each program with the arguments the agent passes, on a fixture input, and what it must print.
const JQ_PROGRAMS: ReadonlyArray<[name: GatewayScriptFile, args: readonly string[], input: string | null, output: string]> = [
  [
    "steering-targets.jq",
    ["--arg", "labelKey", "k", "--arg", "labelValue", "v", "--arg", "decoderService", "d", "--argjson", "buckets", "4", "--arg", "routes", "", "--argjson", "now", "0"],
    null,
    `${JSON.stringify({ targets: [], buckets: [], mesh: { kiloNodes: [], unrouted: [], unroutedIngress: [], withoutEndpoint: [] } })}\n`,
  ],
  [
    "mesh-status.jq",
    ["--slurpfile", "previous", "/dev/null", "--argjson", "now", "10", "--argjson", "staleAfter", "90", "--arg", "iface", "kilo0"],
    JSON.stringify({ kiloNodes: ["a"], unrouted: [], unroutedIngress: [], withoutEndpoint: [] }),
    `${JSON.stringify({ state: "synced", checkedAt: 10, syncedAt: 10, unroutedSince: {}, unrouted: [], unroutedIngress: [], withoutEndpoint: [], message: null })}\n`,
  ],
  [
    "steering-transaction.jq",
    ["-r", "--arg", "table", "t", "--arg", "chain", "c", "--arg", "map", "m", "--argjson", "seed", "7"],
    JSON.stringify({ targets: [{ name: "a", address: "100.64.7.1" }], buckets: ["100.64.7.1", "100.64.7.1"] }),
    "flush chain ip t c\nflush map ip t m\nadd element ip t m { 0 : 100.64.7.1, 1 : 100.64.7.1 }\nadd rule ip t c dnat to jhash ip saddr mod 2 seed 7 map @m\n",
  ],
];

describe("jq", () => {
  it.each(JQ_PROGRAMS)("compiles %s and runs it on a fixture", (name, args, input, output) => {
    const result = jqFile(gatewayScriptPath(name), args, input);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(output);
    expect(result.status).toBe(0);
  });

  it.each(JQ_PROGRAMS)("rejects a copy of %s with a parenthesis missing", (name, args, input) => {
    withTempDir("jq-", (dir) => {
      const text = readFileSync(gatewayScriptPath(name), "utf8");
      const at = text.lastIndexOf(")");
      const broken = join(dir, name);
      writeFileSync(broken, text.slice(0, at) + text.slice(at + 1));
      const result = jqFile(broken, args, input);
      // jq exits 3 when the program does not compile (and 5 when it fails on its input).
      expect(result.status).toBe(3);
      expect(result.stderr).toContain("compile error");
    });
  });
});
