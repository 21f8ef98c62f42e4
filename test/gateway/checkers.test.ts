import {
  DEFAULT_GATEWAY_PATHS,
  STEERING_TARGETS_JQ,
  gatewayUnits,
  renderBootstrapScript,
  renderGatewayCloudInit,
  renderGatewayRuleset,
  renderSteeringAgentScript,
  renderSteeringUpdate,
  renderSystemdUnit,
  resolveGatewayOptions,
} from "../../infra/gateway";
import { cloudInitSchema, nftCheck, shellcheck, systemdVerify } from "./support/checkers";
import { gatewayOptions } from "./support/options";
import { run } from "./support/tools";

// Every artifact passes the real tool of its ecosystem, and each check is shown to fail on a broken input.

const options = resolveGatewayOptions(gatewayOptions());
const rewriting = resolveGatewayOptions(gatewayOptions({ downlinkSourceRewrite: true }));
const unitTexts = gatewayUnits(options).map((unit) => ({ name: unit.name, text: renderSystemdUnit(unit) }));
const executables = [DEFAULT_GATEWAY_PATHS.kgctl, DEFAULT_GATEWAY_PATHS.steeringAgentScript];

describe("shellcheck", () => {
  it.each([
    ["steering agent", renderSteeringAgentScript(options)],
    ["bootstrap", renderBootstrapScript(options)],
  ])("passes the %s script", (_name, script) => {
    const result = shellcheck(script);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
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
    const result = cloudInitSchema(renderGatewayCloudInit(gatewayOptions({ downlinkSourceRewrite: rewrite })));
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("Valid cloud-config");
    expect(result.status).toBe(0);
  });

  it("rejects a wrong key type", () => {
    const broken = renderGatewayCloudInit(gatewayOptions()).replace("package_update: true", "package_update: sometimes");
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

describe("jq", () => {
  it("compiles the decision program", () => {
    const result = run(
      "jq",
      ["-n", "--arg", "labelKey", "k", "--arg", "labelValue", "v", "--arg", "decoderService", "d", "--argjson", "buckets", "4", "--arg", "routes", "", "--argjson", "now", "0", STEERING_TARGETS_JQ],
      "",
    );
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ targets: [], buckets: [], mesh: { kiloNodes: [], unrouted: [], unroutedIngress: [], withoutEndpoint: [] } });
  });
});
