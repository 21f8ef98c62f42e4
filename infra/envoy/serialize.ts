import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { Bootstrap } from "./envoy-api";

export type EnvoyConfigFormat = "yaml" | "json";

/** The bootstrap file content; Envoy picks the parser from the file extension (.yaml or .json). */
export function serializeEnvoyBootstrap(bootstrap: Bootstrap, format: EnvoyConfigFormat = "yaml"): string {
  if (format === "json") return `${JSON.stringify(bootstrap, null, 2)}\n`;
  // No anchors/aliases: Envoy's YAML loader does not need them and they hide repeated values.
  return stringify(bootstrap, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** sha256 hex of the serialised bootstrap, for a pod-template annotation that rolls pods on config change. */
export function envoyBootstrapHash(bootstrap: Bootstrap, format: EnvoyConfigFormat = "yaml"): string {
  return createHash("sha256").update(serializeEnvoyBootstrap(bootstrap, format)).digest("hex");
}
