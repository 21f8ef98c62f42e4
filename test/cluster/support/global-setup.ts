import { execFileSync } from "child_process";
import * as fs from "fs";
import { CLUSTER_SCRIPT, STARTED_MARKER, clusterEnvFile } from "./cluster";

/** Starts the local cluster unless one already runs; remembers whether it did, for the teardown. */
export default async function globalSetup(): Promise<void> {
  fs.rmSync(STARTED_MARKER, { force: true });
  try {
    execFileSync("bash", [CLUSTER_SCRIPT, "status"], { stdio: ["ignore", "ignore", "inherit"] });
    process.stderr.write(`\nusing the running local cluster (${clusterEnvFile()})\n`);
    return;
  } catch {
    // Not running: start one.
  }
  const started = Date.now();
  process.stderr.write("\nstarting the local cluster (tools/kubernetes/local-cluster.sh start)\n");
  execFileSync("bash", [CLUSTER_SCRIPT, "start"], { stdio: ["ignore", "ignore", "inherit"] });
  fs.writeFileSync(STARTED_MARKER, `${Date.now() - started}\n`);
}
