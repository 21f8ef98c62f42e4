import { cpSync, readFileSync, readdirSync, rmSync } from "fs";
import { join, resolve } from "path";
import {
  GATEWAY_SCRIPT_FILES,
  SHELL_PARAMETERS_MARKER,
  bootstrapParameters,
  gatewayScriptPath,
  gatewayScriptsDir,
  renderBootstrapScript,
  renderShellParameters,
  renderSteeringAgentScript,
  steeringAgentParameters,
  withShellParameters,
} from "../../infra/gateway";
import { withTempDir } from "../../harness/temp";
import { gatewayPlan } from "./support/plan";

// The gateway's bash and jq programs are files read at render time; only their parameters are rendered. Real bash reads
// the rendered parameters in script-files.system-test.ts.

const ROOT = resolve(__dirname, "../..");
const SOURCE_SCRIPTS = join(ROOT, "infra/gateway/scripts");
const options = gatewayPlan();

const SCRIPTS = [
  { file: "first-boot.sh", parameters: bootstrapParameters(options), render: renderBootstrapScript(options) },
  { file: "steering-agent.sh", parameters: steeringAgentParameters(options), render: renderSteeringAgentScript(options) },
] as const;

/** Upper-case variables a script reads, outside comments: shellcheck cannot tell whether these are ever assigned. */
function variablesRead(script: string): string[] {
  const code = script
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n");
  return [...new Set([...code.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((match) => match[1]))].sort();
}

describe("script files", () => {
  it("are exactly the files in infra/gateway/scripts", () => {
    expect(gatewayScriptsDir()).toBe(SOURCE_SCRIPTS);
    expect(readdirSync(SOURCE_SCRIPTS).sort()).toEqual([...GATEWAY_SCRIPT_FILES].sort());
  });

  it("are found next to the compiled module in dist/ (the build copies them), and missing ones are named", () => {
    withTempDir("scripts-dir-", (root) => {
      const moduleDir = join(root, "dist/infra/gateway");
      expect(() => gatewayScriptsDir(moduleDir)).toThrow(/^the gateway scripts first-boot\.sh, steering-agent\.sh, .* are missing from .*dist\/infra\/gateway\/scripts \(run npm run build\)$/);
      cpSync(SOURCE_SCRIPTS, join(moduleDir, "scripts"), { recursive: true });
      expect(gatewayScriptsDir(moduleDir)).toBe(join(moduleDir, "scripts"));
      rmSync(join(moduleDir, "scripts", "mesh-status.jq"));
      expect(() => gatewayScriptsDir(moduleDir)).toThrow(/^the gateway scripts mesh-status\.jq are missing/);
    });
  });

  it("are in dist/ after `npm run build`", () => {
    expect(readdirSync(join(ROOT, "dist/infra/gateway/scripts")).sort()).toEqual([...GATEWAY_SCRIPT_FILES].sort());
  });

  it("leave no shell or jq program inside the TypeScript of infra/gateway", () => {
    const dir = join(ROOT, "infra/gateway");
    for (const name of readdirSync(dir).filter((file) => file.endsWith(".ts"))) {
      const text = readFileSync(join(dir, name), "utf8");
      expect({ name, hits: text.match(/#!\/bin\/(ba)?sh|set -euo pipefail|String\.raw|\bdef [a-z_]+[:(]/g) }).toEqual({ name, hits: null });
    }
  });
});

describe.each(SCRIPTS)("$file parameters", ({ file, parameters, render }) => {
  const text = readFileSync(gatewayScriptPath(file), "utf8");

  it("are rendered in place of the marker line, the rest of the file unchanged", () => {
    expect(text.split("\n").filter((line) => line === SHELL_PARAMETERS_MARKER)).toHaveLength(1);
    expect(render).toBe(text.replace(`${SHELL_PARAMETERS_MARKER}\n`, renderShellParameters(parameters)));
  });

  it("are every upper-case variable the script reads, and only those", () => {
    // CACHE_DIRECTORY comes from systemd (CacheDirectory=), not from the gateway options.
    const fromEnvironment = file === "steering-agent.sh" ? ["CACHE_DIRECTORY"] : [];
    const read = variablesRead(text).filter((name) => !fromEnvironment.includes(name));
    expect(read).toEqual(parameters.map((parameter) => parameter.name).sort());
  });
});

describe("shell parameters", () => {
  it("write plain words bare and comment lines above their variable", () => {
    expect(renderShellParameters([{ name: "KGCTL", value: "/usr/local/bin/kgctl", comment: "kgctl 0.7.0" }, { name: "N", value: 0 }])).toBe(
      "# kgctl 0.7.0\nreadonly KGCTL=/usr/local/bin/kgctl\nreadonly N=0\n",
    );
  });

  it("refuse what would not be one readonly assignment", () => {
    expect(() => renderShellParameters([{ name: "lower", value: "x" }])).toThrow(/UPPER_CASE/);
    expect(() => renderShellParameters([{ name: "X; rm", value: "x" }])).toThrow(/UPPER_CASE/);
    expect(() => renderShellParameters([{ name: "X", value: "a" }, { name: "X", value: "b" }])).toThrow(/twice/);
    expect(() => renderShellParameters([{ name: "X", value: 1.5 }])).toThrow(/integer/);
    expect(() => renderShellParameters([{ name: "X", value: "a", comment: "one\nrm -rf /" }])).toThrow(/one line/);
  });

  it("need the marker line exactly once", () => {
    const block = [{ name: "X", value: "1" }];
    expect(withShellParameters(`#!/bin/bash\n${SHELL_PARAMETERS_MARKER}\necho "$X"\n`, block)).toBe('#!/bin/bash\nreadonly X=1\necho "$X"\n');
    expect(() => withShellParameters('#!/bin/bash\necho "$X"\n', block)).toThrow(/exactly once/);
    expect(() => withShellParameters(`${SHELL_PARAMETERS_MARKER}\n${SHELL_PARAMETERS_MARKER}\n`, block)).toThrow(/exactly once/);
    // Only a whole line is the marker: a mention of it in a comment is not replaced.
    expect(() => withShellParameters(`# see ${SHELL_PARAMETERS_MARKER}\n`, block)).toThrow(/exactly once/);
  });
});
