import { execFileSync } from "child_process";
import * as fs from "fs";
import { CLUSTER_SCRIPT, STARTED_MARKER } from "./cluster";

/** Stops the local cluster if the setup started it, unless LOCAL_CLUSTER_KEEP=1. */
export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(STARTED_MARKER)) return;
  fs.rmSync(STARTED_MARKER, { force: true });
  if (process.env.LOCAL_CLUSTER_KEEP === "1") {
    process.stderr.write("LOCAL_CLUSTER_KEEP=1: the local cluster keeps running (tools/kubernetes/local-cluster.sh stop)\n");
    return;
  }
  execFileSync("bash", [CLUSTER_SCRIPT, "stop"], { stdio: ["ignore", "ignore", "inherit"] });
}
