import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The script that starts and stops the local cluster. */
export const CLUSTER_SCRIPT = path.resolve(__dirname, "../../../tools/kubernetes/local-cluster.sh");

/** The state directory local-cluster.sh uses (same defaults). */
export function clusterDir(): string {
  if (process.env.LOCAL_CLUSTER_DIR) return process.env.LOCAL_CLUSTER_DIR;
  const cache = process.env.IOT_UDP_INGRESS_CACHE ?? path.join(os.homedir(), ".cache", "iot-udp-ingress");
  return path.join(cache, "kubernetes", "local-cluster");
}

export function clusterEnvFile(): string {
  return path.join(clusterDir(), "cluster.env");
}

/** Written by the global setup when it started the cluster (so the teardown stops it). */
export const STARTED_MARKER = path.join(os.tmpdir(), "iot-udp-ingress-cluster-test.started");

export interface ClusterEnv {
  kubeconfig: string;
  server: string;
  /** The cluster CA's PEM file. */
  caFile: string;
  bin: string;
  nodesFile: string;
}

/** What local-cluster.sh wrote to cluster.env. */
export function clusterEnv(): ClusterEnv {
  const text = fs.readFileSync(clusterEnvFile(), "utf8");
  const values = Object.fromEntries(
    text
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1).replace(/^"|"$/g, "")]),
  );
  return {
    kubeconfig: values.KUBECONFIG,
    server: values.LOCAL_CLUSTER_SERVER,
    caFile: values.LOCAL_CLUSTER_CA,
    bin: values.LOCAL_CLUSTER_BIN,
    nodesFile: values.LOCAL_CLUSTER_NODES,
  };
}

/** A node as local-cluster.sh was told to create it. */
export interface NodeSpec {
  name: string;
  pool: string;
  role: "ingress" | "general";
  ip: string;
}

export function nodeSpecs(): NodeSpec[] {
  return fs
    .readFileSync(clusterEnv().nodesFile, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [name, pool, role, ip] = line.split(/\s+/);
      return { name, pool, role: role as NodeSpec["role"], ip };
    });
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the cluster's kubectl with the admin kubeconfig (or other flags given); never throws. */
export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  const env = clusterEnv();
  return new Promise((resolve) => {
    const child = execFile(
      path.join(env.bin, "kubectl"),
      args,
      { env: { ...process.env, KUBECONFIG: env.kubeconfig }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

export async function getJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk([...args, "-o", "json"])) as T;
}

/** Applies objects (server-side, field manager `cluster-test`), returning kubectl's result. */
export function apply(objects: unknown[], extra: string[] = []): Promise<KubectlResult> {
  const list = { apiVersion: "v1", kind: "List", items: objects };
  return kubectl(["apply", "--server-side", "--field-manager=cluster-test", "-f", "-", ...extra], JSON.stringify(list));
}

/**
 * Polls `probe` until it returns a value other than undefined; returns it with the time it took. Waiting is not an
 * assertion: the deadline only stops a test that would never pass, and the time is printed, not checked.
 */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 90_000): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, ms: Date.now() - start };
    } catch (error) {
      last = error;
    }
    if (Date.now() - start > deadlineMs) throw new Error(`gave up waiting for ${what} after ${deadlineMs} ms${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Creates a namespace and waits for its `default` ServiceAccount, without which a bare Pod is refused. */
export async function createNamespace(name: string): Promise<void> {
  const result = await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name } }]);
  if (result.code !== 0) throw new Error(`creating namespace ${name} failed: ${result.stderr}`);
  await eventually(`the default ServiceAccount of ${name}`, async () => ((await kubectl(["-n", name, "get", "serviceaccount", "default"])).code === 0 ? true : undefined));
}

/** Prints a measured table under the test's name, so the run's log shows what was checked. */
export function report(title: string, rows: Array<Record<string, unknown>>): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column] ?? "").length)));
  const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index])).join("  ");
  const text = [title, line(columns), line(widths.map((width) => "-".repeat(width))), ...rows.map((row) => line(columns.map((c) => cell(row[c] ?? ""))))];
  process.stdout.write(`\n${text.join("\n")}\n`);
}

/** Whether an IPv4 address lies in an IPv4 CIDR. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const toNumber = (address: string) => address.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
  const [base, length] = cidr.split("/");
  const size = 2 ** (32 - Number(length));
  const start = Math.floor(toNumber(base) / size) * size;
  return toNumber(ip) >= start && toNumber(ip) < start + size;
}
