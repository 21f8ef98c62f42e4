import { createHash } from "crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "fs";
import { join } from "path";
import { renderBootstrapScript, resolveGatewayOptions } from "../../infra/gateway";
import { withTempDir } from "./support/checkers";
import { gatewayOptions } from "./support/options";
import { run } from "./support/tools";

/*
 * The download check of the bootstrap script, run for real: its install_verified function is taken from the rendered
 * script and given a local file:// URL, so curl and sha256sum do what they do at first boot.
 */

const script = renderBootstrapScript(resolveGatewayOptions(gatewayOptions()));
const installFunction = /^install_verified\(\) \{\n[\s\S]*?\n\}\n/m.exec(script)?.[0] ?? "";

function installVerified(dir: string, sha256: string): { status: number | null; stderr: string; target: string } {
  const source = join(dir, "kgctl-linux-amd64");
  writeFileSync(source, "#!/bin/sh\necho kgctl\n");
  const target = join(dir, "bin-kgctl");
  const library = join(dir, "install.sh");
  writeFileSync(library, `set -euo pipefail\n${installFunction}`);
  const result = run("bash", ["-c", `source "$1"; install_verified "$2" "$3" "$4"`, "bash", library, `file://${source}`, sha256, target]);
  return { status: result.status, stderr: result.stderr, target };
}

describe("bootstrap download check", () => {
  it("is present in the rendered script", () => {
    expect(installFunction).toContain("sha256sum --check --status");
  });

  it("installs the file, executable, when the sum matches", () => {
    withTempDir("bootstrap-", (dir) => {
      const sum = createHash("sha256").update("#!/bin/sh\necho kgctl\n").digest("hex");
      const result = installVerified(dir, sum);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(readFileSync(result.target, "utf8")).toBe("#!/bin/sh\necho kgctl\n");
      expect(statSync(result.target).mode & 0o777).toBe(0o755);
    });
  });

  it("refuses to install when the sum differs", () => {
    withTempDir("bootstrap-", (dir) => {
      const result = installVerified(dir, "0".repeat(64));
      expect(result.status).toBe(1);
      expect(result.stderr).toContain("sha256 mismatch");
      expect(existsSync(result.target)).toBe(false);
    });
  });
});
