import { spawnSync, type SpawnSyncReturns } from "child_process";

/** Debian package that provides each external tool the gateway tests run. */
const PACKAGES: Record<string, string> = {
  wg: "wireguard-tools",
  "wg-quick": "wireguard-tools",
  nft: "nftables",
  jq: "jq",
  shellcheck: "shellcheck",
  "systemd-analyze": "systemd",
  "cloud-init": "cloud-init",
  ip: "iproute2",
  conntrack: "conntrack",
  python3: "python3",
};

/** Fails (never skips) when a tool is missing, naming the package to install. */
export function requireTool(name: string): void {
  const found = spawnSync("sh", ["-c", `command -v "$1"`, "sh", name], { encoding: "utf8" });
  if (found.status !== 0) {
    throw new Error(`'${name}' is not installed: install the Debian package '${PACKAGES[name] ?? name}' to run these tests`);
  }
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command after checking it exists; returns its exit status and output. */
export function run(command: string, args: readonly string[], input?: string, env?: NodeJS.ProcessEnv): RunResult {
  requireTool(command);
  const result: SpawnSyncReturns<string> = spawnSync(command, args, {
    encoding: "utf8",
    input,
    env: env ?? process.env,
    timeout: 20000,
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
