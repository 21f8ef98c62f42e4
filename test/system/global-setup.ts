import { existsSync } from "node:fs";
import { missingToolMessage, toolPath } from "../../harness/commands";
import { buildEnvoyApiChecker } from "../envoy/support/envoy-api";

/** Every program a *.system-test.ts runs (harness/commands.ts names each one's Debian package). */
export const SYSTEM_TOOLS = [
  "bash",
  "curl",
  "sha256sum",
  "python3",
  "ip",
  "nft",
  "conntrack",
  "jq",
  "wg",
  "wg-quick",
  "wireguard-go",
  "shellcheck",
  "cloud-init",
  "systemd-analyze",
  "promtool",
];

/** What keeps the system tier from running here; empty when nothing does. */
export function systemTierProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("not root: the tests make network namespaces, load nftables rulesets and run wireguard-go");
  for (const tool of SYSTEM_TOOLS) if (toolPath(tool) === undefined) problems.push(missingToolMessage(tool));
  if (toolPath("go") === undefined && !existsSync("/usr/local/go/bin/go")) {
    problems.push("'go' is not installed (looked for on PATH and in /usr/local/go/bin): tools/envoy-api/build.sh builds Envoy's API checker with it");
  }
  if (!existsSync("/dev/net/tun")) problems.push("/dev/net/tun does not exist: wireguard-go needs it");
  return problems;
}

/**
 * Fails the run, rather than letting any test skip, when the machine cannot run the tier; then builds Envoy's API
 * checker once (a cold build prints its progress here, minutes on a busy machine) so that the workers find it cached.
 */
export default async function globalSetup(): Promise<void> {
  const problems = systemTierProblems();
  if (problems.length > 0) {
    const message = [
      "npm run test:system cannot run on this machine, and it does not skip:",
      ...problems.map((problem) => `  - ${problem}`),
      "Run it as root with the Debian packages .ci/run installs; `npm test` is the tier that needs neither root nor these tools.",
    ].join("\n");
    // Jest prints a global setup's error by its stack: make that the message alone, without a trace.
    const error = new Error(message);
    error.stack = `\n${message}\n`;
    throw error;
  }
  await buildEnvoyApiChecker();
}
