/**
 * The lab's monitoring: Debian's prometheus-node-exporter in the gateway namespace with the arguments cloud-init
 * renders for it (its textfile collector reading the steering agent's metrics file), and Debian's Prometheus server
 * on the general node, where an in-cluster Prometheus would run. Prometheus scrapes the gateway at its tunnel
 * address, the one address the gateway's metrics EndpointSlice names (components/wireguard-gateway.ts), so through
 * the Kilo WireGuard interface, which is the only interface the gateway's firewall opens the port on; it scrapes
 * each Envoy stand-in's stats listener, and evaluates the rendered alert rules.
 *
 * Scrape and evaluation every second rather than a minute: the lab's scenarios last seconds.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderAlertRules, type AlertRuleOptions } from "../infra/observability/alerts";
import { sleep } from "../harness/commands";
import { nsExec } from "../harness/netns";
import { type LabGateway } from "./gateway";
import { GATEWAY_TUNNEL_IP, NS, type LabNode } from "./plan";
import { STATE_DIR, type ProcessRegistry } from "./processes";
import { type EnvoyStandin } from "./standins";

export const PROMETHEUS_PORT = 9090;
export const SCRAPE_INTERVAL_SECONDS = 1;
export const GATEWAY_JOB = "iot-gateway";
export const ENVOY_JOB = "envoy";

const DIR = join(STATE_DIR, "monitoring");

/** One series of a Prometheus instant or range query. */
export interface PromSeries {
  metric: Record<string, string>;
  /** [unix seconds, value] pairs; one for an instant query. */
  values: Array<[number, number]>;
}

interface PromAnswer<T> {
  status: "success" | "error";
  data: T;
  error?: string;
}

export interface PromRule {
  name: string;
  type: "alerting" | "recording";
  health: string;
  lastError?: string;
  state?: "inactive" | "pending" | "firing";
  alerts?: Array<{ labels: Record<string, string>; state: string; value: string }>;
}

export interface PromTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}

/** Prometheus's configuration for the lab: the gateway by its tunnel address, each stand-in worker as its node's instance. */
export function prometheusConfig(gatewayTarget: string, envoys: ReadonlyArray<{ node: string; addresses: readonly string[] }>, rulesFile: string): string {
  return stringify(
    {
      global: { scrape_interval: `${SCRAPE_INTERVAL_SECONDS}s`, evaluation_interval: `${SCRAPE_INTERVAL_SECONDS}s`, scrape_timeout: `${SCRAPE_INTERVAL_SECONDS}s` },
      rule_files: [rulesFile],
      scrape_configs: [
        { job_name: GATEWAY_JOB, static_configs: [{ targets: [gatewayTarget] }] },
        {
          job_name: ENVOY_JOB,
          metrics_path: "/stats/prometheus",
          // The node's name as `instance`, as one Envoy pod per node: the stand-in's workers are one Envoy's threads.
          static_configs: envoys.map((e) => ({ targets: [...e.addresses], labels: { instance: e.node } })),
        },
      ],
    },
    { lineWidth: 0 },
  );
}

export class LabMonitoring {
  readonly startedSeconds = Math.floor(Date.now() / 1000);
  private constructor(
    /** The namespace Prometheus runs in (the general node's), and its address there. */
    readonly node: LabNode,
    readonly gatewayTarget: string,
    readonly rulesYaml: string,
  ) {}

  /** Starts the node exporter and Prometheus, and waits until Prometheus is ready and has scraped every target once. */
  static async start(
    registry: ProcessRegistry,
    gateway: LabGateway,
    node: LabNode,
    envoys: ReadonlyMap<string, EnvoyStandin>,
    alerts: AlertRuleOptions,
    log: (s: string) => void,
  ): Promise<LabMonitoring> {
    mkdirSync(join(DIR, "tsdb"), { recursive: true, mode: 0o700 });
    const nodeExporterArgs = gateway.nodeExporterArgs;
    daemon(registry, NS.gateway, "prometheus-node-exporter", nodeExporterArgs, join(DIR, "node-exporter.log"));
    const port = /--web\.listen-address=\S*:(\d+)$/.exec(nodeExporterArgs.find((a) => a.startsWith("--web.listen-address=")) ?? "")?.[1];
    if (port === undefined) throw new Error(`the rendered node exporter arguments set no listen port: ${nodeExporterArgs.join(" ")}`);
    const rulesYaml = renderAlertRules(alerts);
    const rulesFile = join(DIR, "rules.yaml");
    writeFileSync(rulesFile, rulesYaml);
    const gatewayTarget = `${GATEWAY_TUNNEL_IP}:${port}`;
    const config = join(DIR, "prometheus.yml");
    writeFileSync(config, prometheusConfig(gatewayTarget, [...envoys.values()].map((e) => ({ node: e.node.name, addresses: e.statsAddresses })), rulesFile));
    const monitoring = new LabMonitoring(node, gatewayTarget, rulesYaml);
    daemon(
      registry,
      node.ns,
      "prometheus",
      [`--config.file=${config}`, `--storage.tsdb.path=${join(DIR, "tsdb")}`, `--web.listen-address=${monitoring.address}`, "--log.level=warn"],
      join(DIR, "prometheus.log"),
    );
    log(`monitoring: prometheus-node-exporter in the gateway namespace (${nodeExporterArgs.join(" ")}), Prometheus on ${node.name} at ${monitoring.address}`);
    await monitoring.waitFor("Prometheus ready and every target scraped", async () => {
      const targets = await monitoring.targets();
      return targets.length === 1 + envoys.size && targets.every((t) => t.health === "up");
    }, 30_000);
    return monitoring;
  }

  get address(): string {
    return `${this.node.publicIp}:${PROMETHEUS_PORT}`;
  }

  /** GET on Prometheus's HTTP API from inside its namespace (curl: the lab's namespaces are not the host's). */
  async api<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
    const args = ["-sS", "--max-time", "10", "-G", `http://${this.address}${path}`];
    for (const [key, value] of Object.entries(params)) args.push("--data-urlencode", `${key}=${value}`);
    const answer = JSON.parse(nsExec(this.node.ns, "curl", args)) as PromAnswer<T>;
    if (answer.status !== "success") throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${answer.error ?? "error"}`);
    return answer.data;
  }

  async targets(): Promise<PromTarget[]> {
    try {
      return (await this.api<{ activeTargets: PromTarget[] }>("/api/v1/targets")).activeTargets;
    } catch {
      return []; // not listening yet
    }
  }

  async rules(): Promise<PromRule[]> {
    const data = await this.api<{ groups: Array<{ name: string; rules: PromRule[] }> }>("/api/v1/rules");
    return data.groups.flatMap((g) => g.rules);
  }

  async query(expr: string): Promise<PromSeries[]> {
    const data = await this.api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>("/api/v1/query", { query: expr });
    return data.result.map((r) => ({ metric: r.metric, values: [[r.value[0], Number(r.value[1])]] }));
  }

  /** The one value of `expr` now (undefined when it has no series; an error when it has several). */
  async scalar(expr: string): Promise<number | undefined> {
    const series = await this.query(expr);
    if (series.length > 1) throw new Error(`${expr}: ${series.length} series where one was expected`);
    return series[0]?.values[0][1];
  }

  async queryRange(expr: string, start: number, end: number, step: number): Promise<PromSeries[]> {
    const data = await this.api<{ result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }>("/api/v1/query_range", { query: expr, start, end, step });
    return data.result.map((r) => ({ metric: r.metric, values: r.values.map(([t, v]) => [t, Number(v)] as [number, number]) }));
  }

  /** Waits for the next scrape and rule evaluation of every target (two intervals and a margin). */
  async nextScrape(): Promise<void> {
    await sleep(2500 * SCRAPE_INTERVAL_SECONDS);
  }

  async waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await ready()) return;
      if (Date.now() > deadline) {
        const targets = await this.targets();
        throw new Error(`monitoring: not ${what} within ${timeoutMs} ms; targets: ${JSON.stringify(targets.map((t) => [t.scrapeUrl, t.health, t.lastError]))} (logs in ${DIR})`);
      }
      await sleep(500);
    }
  }
}

/** A long-running program in a namespace, its output in a log file, recorded for the lab's clean-up. */
function daemon(registry: ProcessRegistry, ns: string, command: string, args: readonly string[], logFile: string): void {
  const out = openSync(logFile, "a");
  // `ip netns exec` execs the program, so the pid recorded is the program's.
  const child = spawn("ip", ["netns", "exec", ns, command, ...args], { stdio: ["ignore", out, out], detached: false });
  if (child.pid === undefined) throw new Error(`could not start ${command} in ${ns}`);
  registry.add(child.pid);
  child.unref();
}
