/**
 * Network-namespace lab: the device data path end to end with real kernels, wireguard-go
 * and nftables, configured from the project's rendered artifacts.
 *
 *   npm run lab                      # 2,000 devices, all scenarios, short benchmark
 *   npm run lab -- --devices 250000  # same at full scale
 *
 * Needs root, iproute2, nftables, conntrack, jq, python3, wireguard-go, wireguard-tools,
 * curl, Debian's prometheus (promtool, and the Prometheus server of scenario k), prometheus-node-exporter and Go. Exits non-zero if any scenario fails. The Envoy,
 * decoder and device programs are stand-ins (Go, in lab/standins), named so in all output.
 */
import os from "os";
import { join, resolve } from "path";
import { type AlertRuleOptions } from "../infra/observability/alerts";
import { benchTable, measurePath } from "./bench";
import { buildStandins } from "./gobuild";
import { LabCluster } from "./cluster-api";
import { buildLab, LAB_CLUSTER_DIR, type Lab } from "./lab";
import { MAX_DEVICES } from "./plan";
import { LabMonitoring } from "./monitoring";
import { monitoringScenario } from "./monitoring-scenario";
import { LabPair } from "./pair";
import { pairFailover } from "./pair-scenario";
import { cleanAll, ProcessRegistry, STATE_DIR, takeRunLock } from "./processes";
import { downlinkSourceRewrite, forwardPolicy, gatewayMetrics, kiloRenumbering, replyToObservedAddress, gatewayRestart, naiveRemoteUpstream, sourceAndDownlink, steeringChange, type ScenarioResult } from "./scenarios";
import { missingToolMessage, toolPath } from "../harness/commands";

interface Options {
  devices: number;
  /** Where scenario k writes the dashboard picture. */
  picture: string;
}

/** The picture's default place: next to the lab's state, outside the repository (`--picture docs/dashboard-lab.svg` for the README's). */
const DEFAULT_PICTURE = join(STATE_DIR, "..", "dashboard-lab.svg");
const USAGE = "usage: npm run lab -- [--devices N] [--picture FILE.svg]";

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { devices: 2000, picture: DEFAULT_PICTURE };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--devices") {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 10 || v > MAX_DEVICES) throw new Error(`--devices must be an integer from 10 to ${MAX_DEVICES}`);
      opts.devices = v;
    } else if (a === "--picture") {
      const v = argv[++i];
      if (v === undefined || !v.endsWith(".svg")) throw new Error(`--picture needs a file name ending in .svg (${USAGE})`);
      opts.picture = resolve(v);
    } else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a} (${USAGE})`);
    }
  }
  return opts;
}

/** What the lab runs (Go is looked for by harness/gobuild.ts). */
const LAB_TOOLS = ["ip", "nft", "conntrack", "jq", "bash", "python3", "curl", "wireguard-go", "wg", "wg-quick", "promtool", "prometheus", "prometheus-node-exporter", "pkill", "setsid"];

function checkTools(): void {
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (network namespaces, nftables, wireguard-go)");
  const missing = LAB_TOOLS.filter((tool) => toolPath(tool) === undefined);
  if (missing.length > 0) throw new Error(`the lab needs these tools: ${missing.map(missingToolMessage).join("; ")}`);
}

/**
 * The alert rules as the lab's Prometheus loads them: the gateway's own steering interval and uplink interface. The
 * stand-ins enforce no session budget, so the budget is the fleet: no node can hold more sessions than devices.
 */
function labAlertOptions(lab: Lab): AlertRuleOptions {
  const o = lab.gateway.options;
  return { maxConnections: lab.devices, steeringIntervalSeconds: o.steering.intervalSeconds, uplinkInterface: o.uplink.interfaceName };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const log = (s: string) => process.stdout.write(`[lab ${((Date.now() - started) / 1000).toFixed(1)}s] ${s}\n`);
  checkTools();
  const releaseLock = takeRunLock();
  const registry = new ProcessRegistry();
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    LabCluster.stop(LAB_CLUSTER_DIR);
    cleanAll(registry);
    releaseLock();
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: cleaning up the lab\n`);
      cleanup();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
  try {
    LabCluster.stop(LAB_CLUSTER_DIR); // leftovers of a crashed run
    cleanAll(registry);
    const binary = buildStandins();
    log(`stand-ins built: ${binary}`);
    const lab = await buildLab(registry, binary, opts.devices, log);
    log(`topology up: ${lab.nodes.length} nodes (${lab.ingressNodes.length} ingress), ${opts.devices} devices`);

    const deadline = Date.now() + (opts.devices > 20_000 ? 600_000 : 120_000);
    const kilo = await measurePath("devices -> WireGuard uplink -> gateway nftables -> Kilo WireGuard -> Envoy stand-in -> decoder", lab.fleet, lab.decoders, opts.devices, { startRate: 60_000, seconds: 4, firstRound: 100, maxAttempts: 7, deadline }, log);
    const plain = await measurePath("plain routed veths (no WireGuard, no nftables)", lab.plainFleet, new Map([["sink", lab.plainSink]]), opts.devices, { startRate: 300_000, seconds: 4, firstRound: 200, maxAttempts: 7, deadline: deadline + 120_000 }, log);
    // Half the loss-free rate: the scenarios count every device, and the CPUs are shared.
    const rate = Math.max(500, Math.min(kilo.rate * 0.5, 20_000));
    log(`scenarios at ${Math.round(rate)} datagrams/s`);
    // After the benchmark, so that its scrapes do not share the CPUs with the measurement; before every scenario, so that
    // Prometheus sees them all (scenario k checks what it saw).
    const alerts = labAlertOptions(lab);
    const monitoring = await LabMonitoring.start(registry, lab.gateway, lab.nodes.find((n) => !n.ingress)!, lab.envoys, alerts, log);

    const results: ScenarioResult[] = [];
    const record = (r: ScenarioResult) => {
      results.push(r);
      log(`scenario ${r.id}: ${r.passed ? "PASSED" : "FAILED"}: ${r.title}`);
      for (const n of r.numbers) log(`    ${n}`);
    };
    for (const r of await sourceAndDownlink(lab, rate)) record(r);
    record(await steeringChange(lab, rate));
    record(await naiveRemoteUpstream(lab, rate));
    record(await replyToObservedAddress(lab, rate));
    record(await downlinkSourceRewrite(lab, rate));
    record(await gatewayRestart(lab, Math.min(rate / 2, 2500)));
    record(await kiloRenumbering(lab, Math.min(rate / 2, 2500)));
    record(await forwardPolicy(lab, rate));
    record(await gatewayMetrics(lab, Math.floor(started / 1000)));
    record(await monitoringScenario(lab, monitoring, alerts, opts.picture));
    log("gateway pair: a standby from the same artifacts, the leadership agent and role hook on both");
    const pair = await LabPair.build(lab, registry, binary, log);
    for (const r of await pairFailover(lab, pair, rate)) record(r);

    process.stdout.write(`\nBenchmark (${opts.devices} devices; each attempt sends one datagram per device, or more to last 4 s; ${os.cpus().length} CPUs):\n`);
    process.stdout.write(benchTable([kilo, plain]) + "\n");
    process.stdout.write(`attempts (data path): ${kilo.attempts.join("; ")}\nattempts (plain): ${plain.attempts.join("; ")}\n`);
    process.stdout.write(`throughput ratio data path / plain veth: ${(kilo.rate / plain.rate).toFixed(3)}\n\n`);
    const failed = results.filter((r) => !r.passed).length;
    for (const r of results) process.stdout.write(`${r.passed ? "PASS" : "FAIL"} (${r.id}) ${r.title}\n`);
    process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`lab error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
