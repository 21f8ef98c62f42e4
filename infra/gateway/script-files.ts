/**
 * Where the gateway's bash and jq programs live: real files in ./scripts, read when the gateway is rendered, so
 * shellcheck and jq check the very files the VM runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const GATEWAY_SCRIPT_FILES = [
  "first-boot.sh",
  "steering-agent.sh",
  "steering-targets.jq",
  "mesh-status.jq",
  "steering-transaction.jq",
  "gateway-metrics.jq",
  "gateway-leadership.sh",
  "gateway-role.sh",
] as const;

export type GatewayScriptFile = (typeof GATEWAY_SCRIPT_FILES)[number];

/**
 * The scripts directory next to this module: ./scripts in the source tree, and in dist/infra/gateway the copy that
 * `npm run build` makes (tsc compiles TS and JS only). Throws when a file is missing: a package built without them
 * cannot render a gateway.
 */
export function gatewayScriptsDir(moduleDir: string = __dirname): string {
  const dir = join(moduleDir, "scripts");
  const missing = GATEWAY_SCRIPT_FILES.filter((name) => !existsSync(join(dir, name)));
  if (missing.length > 0) throw new Error(`the gateway scripts ${missing.join(", ")} are missing from ${dir} (run npm run build)`);
  return dir;
}

/** Absolute path of a gateway script file. */
export function gatewayScriptPath(name: GatewayScriptFile): string {
  return join(gatewayScriptsDir(), name);
}

/** The text of a gateway script file. */
export function readGatewayScript(name: GatewayScriptFile): string {
  return readFileSync(gatewayScriptPath(name), "utf8");
}
