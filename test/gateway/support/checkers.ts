/**
 * The real tools of each ecosystem as judges of the gateway's artifacts (system tier: these run shellcheck,
 * cloud-init, nft in a namespace, systemd-analyze).
 */
import { chmodSync, cpSync, mkdirSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import { run, type RunResult } from "../../../harness/commands";
import { withNetns } from "../../../harness/netns";
import { withTempDir } from "../../../harness/temp";

/** `shellcheck` on a script file where it is (the shebang selects the dialect). */
export function shellcheckFile(file: string): RunResult {
  return run("shellcheck", ["--severity=style", file]);
}

/** `shellcheck` on a script given as text. */
export function shellcheck(script: string): RunResult {
  return withTempDir("shellcheck-", (dir) => {
    const file = join(dir, "script");
    writeFileSync(file, script);
    return shellcheckFile(file);
  });
}

/** `cloud-init schema --config-file` on user data given as text. */
export function cloudInitSchema(userData: string): RunResult {
  return withTempDir("cloud-init-", (dir) => {
    const file = join(dir, "user-data");
    writeFileSync(file, userData);
    return run("cloud-init", ["schema", "--config-file", file]);
  });
}

/** `nft -c -f` in a throwaway network namespace: checks a ruleset or transaction without applying it. */
export function nftCheck(ruleset: string, prelude?: string): RunResult {
  return withTempDir("nft-", (dir) => {
    const file = join(dir, "ruleset.nft");
    writeFileSync(file, ruleset);
    return withNetns("nftcheck", (ns) => {
      if (prelude !== undefined) {
        const base = join(dir, "prelude.nft");
        writeFileSync(base, prelude);
        const loaded = run("ip", ["netns", "exec", ns, "nft", "-f", base]);
        if (loaded.status !== 0) throw new Error(`prelude did not load: ${loaded.stderr}`);
      }
      return run("ip", ["netns", "exec", ns, "nft", "-c", "-f", file]);
    });
  });
}

export interface UnitFileText {
  readonly name: string;
  readonly text: string;
}

/**
 * `systemd-analyze verify` on units installed into a scratch root that holds a copy of the system's own units (so
 * targets like multi-user.target resolve) and an executable stub at each path in `executables`: verify checks that
 * ExecStart binaries exist, so a unit pointing anywhere else fails. The result counts as passing only when verify
 * exits 0 AND prints nothing: unknown keys and unparsable values are only warnings in its exit status.
 */
export function systemdVerify(units: readonly UnitFileText[], executables: readonly string[]): RunResult {
  return withTempDir("systemd-verify-", (root) => {
    mkdirSync(join(root, "usr/lib/systemd"), { recursive: true });
    cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
    const unitDir = join(root, "etc/systemd/system");
    mkdirSync(unitDir, { recursive: true });
    for (const executable of executables) {
      const stub = join(root, executable);
      mkdirSync(dirname(stub), { recursive: true });
      writeFileSync(stub, "#!/bin/sh\nexit 0\n");
      chmodSync(stub, 0o755);
    }
    for (const unit of units) writeFileSync(join(unitDir, unit.name), unit.text);
    const result = run("systemd-analyze", ["verify", `--root=${root}`, ...units.map((unit) => join(unitDir, unit.name))]);
    return { ...result, status: result.status === 0 && result.stderr.trim() !== "" ? 1 : result.status };
  });
}
