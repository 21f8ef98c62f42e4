import { createHash } from "crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "fs";
import { join } from "path";
import { run } from "../../harness/commands";
import { withTempDir } from "../../harness/temp";
import { DEFAULT_GATEWAY_PATHS, renderBootstrapScript } from "../../infra/gateway";
import { installFunctionOf } from "./support/bootstrap";
import { gatewayPlan } from "./support/plan";

/*
 * The download check of the bootstrap script, run for real: its install_verified function is taken from the rendered
 * script and given a local file:// URL, so curl and sha256sum do what they do at first boot. Then the whole script,
 * with stand-ins for the commands that would change this machine.
 */

const script = renderBootstrapScript(gatewayPlan());
const installFunction = installFunctionOf(script);

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

describe("first boot", () => {
  const HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize";
  const PAYLOAD = "#!/bin/sh\necho tool\n";

  it("downloads and checks both tools, loads conntrack with its hash size, the sysctls and the firewall, then starts the units", () => {
    withTempDir("first-boot-", (dir) => {
      const bin = join(dir, "bin");
      mkdirSync(bin);
      const log = join(dir, "commands.log");
      // curl writes a fixed payload; the others only record how they were called. sha256sum and install are real.
      const stubs: Record<string, string> = {
        curl: 'out=""; while (($#)); do [[ $1 == --output ]] && out=$2; url=$1; shift; done; printf "%s" "$PAYLOAD" >"$out"; echo "curl $url" >>"$LOG"',
        modprobe: 'echo "modprobe $*" >>"$LOG"',
        sysctl: 'echo "sysctl $*" >>"$LOG"',
        systemctl: 'echo "systemctl $*" >>"$LOG"',
        nft: 'echo "nft $*" >>"$LOG"',
      };
      for (const [name, body] of Object.entries(stubs)) {
        writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      }
      const sum = createHash("sha256").update(PAYLOAD).digest("hex");
      const paths = {
        ...DEFAULT_GATEWAY_PATHS,
        kgctl: join(dir, "kgctl"),
        kubectl: join(dir, "kubectl"),
        nft: join(bin, "nft"),
        textfileDir: join(dir, "textfile"),
      };
      const options = gatewayPlan({ tools: { kgctl: { version: "0.7.0", sha256: sum }, kubectl: { version: "v1.34.2", sha256: sum } } });
      const rendered = renderBootstrapScript(options, paths);
      // The kernel's own file is written for real at first boot; here a scratch file stands for it.
      expect(rendered.split(HASHSIZE)).toHaveLength(2);
      const script = join(dir, "first-boot");
      writeFileSync(script, rendered.replace(HASHSIZE, join(dir, "hashsize")));

      const result = run("bash", [script], "", { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, LOG: log, PAYLOAD } });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(readFileSync(log, "utf8")).toBe(
        [
          "curl https://github.com/squat/kilo/releases/download/0.7.0/kgctl-linux-amd64",
          "curl https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubectl",
          "modprobe nf_conntrack",
          "sysctl --quiet --load=/etc/sysctl.d/90-iot-gateway.conf",
          "nft -f /etc/nftables.conf",
          "systemctl daemon-reload",
          "systemctl enable --now chrony.service nftables.service wg-quick@wg-uplink.service kilo-connect.service iot-steering-agent.timer",
          "systemctl restart prometheus-node-exporter.service",
          "",
        ].join("\n"),
      );
      expect(readFileSync(join(dir, "hashsize"), "utf8")).toBe("131072\n");
      // The textfile directory the steering agent's unit may write to exists before the timer first fires.
      expect(statSync(join(dir, "textfile")).isDirectory()).toBe(true);
      for (const tool of [paths.kgctl, paths.kubectl]) {
        expect(readFileSync(tool, "utf8")).toBe(PAYLOAD);
        expect(statSync(tool).mode & 0o777).toBe(0o755);
      }
    });
  });
});
