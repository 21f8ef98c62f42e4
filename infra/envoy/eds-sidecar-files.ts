/**
 * What the Envoy component needs to ship the EDS sidecar: its files (read from disk and put in a
 * ConfigMap, mounted flat into one directory) and the environment it reads.
 */
import { join } from "node:path";
import sidecar = require("./eds-sidecar/sidecar.js");

/** Directory holding the sidecar sources, next to this module (also in the compiled output). */
export const EDS_SIDECAR_DIR: string = join(__dirname, "eds-sidecar");

/** Sidecar files, relative to EDS_SIDECAR_DIR; they require each other as "./<name>", so mount them side by side. */
export const EDS_SIDECAR_FILES = ["endpoints.js", "eds-file.js", "kube-api.js", "sidecar.js"] as const;

/** The file to run: `node <mount dir>/sidecar.js`. */
export const EDS_SIDECAR_MAIN = "sidecar.js" as const;

/** Environment variable names the sidecar reads, by role. */
export const EDS_SIDECAR_ENV: Readonly<{
  nodeName: string;
  namespace: string;
  serviceName: string;
  clusterName: string;
  portName: string;
  edsPath: string;
  apiUrl: string;
  serviceHost: string;
  servicePort: string;
  serviceAccountDir: string;
  backoffInitialMs: string;
  backoffMaxMs: string;
  watchTimeoutSeconds: string;
}> = sidecar.ENV;

/** Variables the sidecar cannot start without (PORT_NAME may be "" for an unnamed Service port). */
export const EDS_SIDECAR_REQUIRED_ENV: readonly string[] = sidecar.REQUIRED_ENV;

/** Absolute paths of the sidecar files. */
export function edsSidecarFilePaths(): Record<(typeof EDS_SIDECAR_FILES)[number], string> {
  return Object.fromEntries(EDS_SIDECAR_FILES.map((name) => [name, join(EDS_SIDECAR_DIR, name)])) as Record<
    (typeof EDS_SIDECAR_FILES)[number],
    string
  >;
}

/**
 * Exec command for the sidecar's startupProbe: succeeds once the EDS file exists. Envoy refuses to
 * start while a path_config_source file is missing, so run the sidecar as a native sidecar
 * (init container with restartPolicy Always) with this probe, and Envoy starts after it passes.
 */
export function edsSidecarStartupProbeCommand(edsPath: string): string[] {
  return ["node", "-e", `require("node:fs").accessSync(${JSON.stringify(edsPath)})`];
}
