/**
 * Part 5: the session budget. The Envoy stand-in (lab/standins/envoy.go, which does what udp_proxy does at the cluster
 * circuit breaker's max_connections, as read in Envoy's source) held at the budget the prod stack renders, then past
 * it, then after its sessions ended; what is dropped is read from the decoder stand-in behind it and from the
 * stand-in's /stats/prometheus, the series the rendered alert rules name.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ENVOY_DECODER_CLUSTER, ENVOY_STAT_PREFIX, renderEnvoyBootstrap, resolveEnvoyPlan } from "../infra/envoy";
import { buildAlertRules } from "../infra/observability/alerts";
import { CONFIG_NAMESPACE, parseStackConfig } from "../stacks/config";
import { envoyPlanInput } from "../stacks/envoy-config";
import { writeEdsFile } from "../lab/eds";
import { settle } from "../lab/measure";
import { Decoder } from "../lab/standins";
import { type ProcessRegistry } from "../lab/processes";
import type { Cleanup } from "../harness/cleanup";
import { sleep } from "../harness/commands";
import { ipBatch, nsExec } from "../harness/netns";
import { LineProcess } from "../harness/processes";
import { parseExposition, selectorIn, valueOf } from "../harness/prometheus-exposition";
import { BUDGET_IDLE_TIMEOUT_SECONDS, BUDGET_PHASES, BUDGET_RATE, BUDGET_STACK, newDevicesPast, spread, type BudgetPhaseRow, type BudgetResults } from "./tables";

const DEVICE_BASE = "10.128.0.10";
const DEVICE_SUBNET = "10.128.0.0/14";
const DEVICE_PORT = 20_000;
const DEVICE_PORTS = 256;
const NODE_IP = "172.31.5.1";
const POD_IP = "100.64.1.10";
const DECODER_PORT = 7000;
const NODE_NAME = "bench-ingress-1";

/** The prod stack's max_connections, as its config renders into the Envoy bootstrap. */
export function renderedBudget(): { maxConnections: number; listenerPort: number; metricsPort: number; idleTimeoutSeconds: number } {
  const file = join(__dirname, "..", `Pulumi.${BUDGET_STACK}.yaml`);
  const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  const raw = Object.fromEntries(
    Object.entries(doc.config)
      .filter(([key]) => key.startsWith(`${CONFIG_NAMESPACE}:`))
      .map(([key, value]) => [key.slice(CONFIG_NAMESPACE.length + 1), value]),
  );
  const plan = resolveEnvoyPlan(envoyPlanInput(parseStackConfig(raw)));
  const cluster = renderEnvoyBootstrap(plan).static_resources.clusters.find((c) => c.name === ENVOY_DECODER_CLUSTER) as
    | { circuit_breakers?: { thresholds: Array<{ max_connections: number }> } }
    | undefined;
  const maxConnections = cluster?.circuit_breakers?.thresholds[0]?.max_connections;
  if (maxConnections === undefined) throw new Error("the rendered bootstrap has no max_connections on the decoder cluster");
  return { maxConnections, listenerPort: plan.listenerPort, metricsPort: plan.metricsPort, idleTimeoutSeconds: plan.idleTimeoutSeconds };
}

export interface BudgetBenchOptions {
  readonly repetitions: number;
  readonly binary: string;
  readonly log: (line: string) => void;
}

interface Counters {
  overflow: number;
  total: number;
  active: number;
  remaining: number;
  idleTimeout: number;
}

export async function sessionBudgetBench(cleanup: Cleanup, options: BudgetBenchOptions): Promise<BudgetResults> {
  const rendered = renderedBudget();
  const budget = rendered.maxConnections;
  const extra = newDevicesPast(budget);
  const devices = budget + extra;
  const rules = buildAlertRules({ maxConnections: budget, steeringIntervalSeconds: 5, uplinkInterface: "wg-uplink" }).groups.flatMap((g) => g.rules);
  const rule = (name: string) => {
    const found = rules.find((r) => r.alert === name);
    if (found === undefined) throw new Error(`no alert ${name} in the rendered rules`);
    return found;
  };
  const overflowSeries = selectorIn(rule("IotIngressSessionOverflow").expr);
  const activeSeries = selectorIn(rule("IotIngressSessionsNearBudget").expr);
  const nearBudget = Number(/> ([\d.]+)$/.exec(rule("IotIngressSessionsNearBudget").expr)?.[1]);
  const labelsOfCluster = { envoy_cluster_name: ENVOY_DECODER_CLUSTER };
  const totalSeries = { name: "envoy_udp_downstream_sess_total", labels: { envoy_udp_prefix: ENVOY_STAT_PREFIX } };
  const idleSeries = { name: "envoy_udp_idle_timeout", labels: { envoy_udp_prefix: ENVOY_STAT_PREFIX } };
  const remainingSeries = { name: "envoy_cluster_circuit_breakers_default_remaining_cx", labels: labelsOfCluster };

  const devNs = cleanup.netns("bdev");
  const nodeNs = cleanup.netns("bnode");
  const podNs = cleanup.netns("bpod");
  ipBatch(nodeNs, [
    `link add bnch-n0 type veth peer name bnch-d0 netns ${devNs}`,
    `link add bnch-n1 type veth peer name bnch-p0 netns ${podNs}`,
    `addr add ${NODE_IP}/30 dev bnch-n0`,
    "link set bnch-n0 up",
    "addr add 100.64.1.1/24 dev bnch-n1",
    "link set bnch-n1 up",
    `route add ${DEVICE_SUBNET} via 172.31.5.2`,
  ]);
  ipBatch(devNs, ["addr add 172.31.5.2/30 dev bnch-d0", "link set bnch-d0 up", `route add local ${DEVICE_SUBNET} dev lo`, `route add default via ${NODE_IP}`]);
  ipBatch(podNs, [`addr add ${POD_IP}/24 dev bnch-p0`, "link set bnch-p0 up", "route add default via 100.64.1.1"]);
  const work = cleanup.tempDir("budget");
  const eds = join(work, "endpoints.json");
  writeEdsFile(
    eds,
    [
      {
        metadata: { name: "decoder-bench", namespace: "iot-decoder", labels: { "kubernetes.io/service-name": "decoder" } },
        addressType: "IPv4",
        endpoints: [{ addresses: [POD_IP], conditions: { ready: true }, nodeName: NODE_NAME }],
        ports: [{ name: "udp", port: DECODER_PORT, protocol: "UDP" }],
      },
    ],
    NODE_NAME,
    ENVOY_DECODER_CLUSTER,
    "udp",
  );
  // The device simulator through its own line process: the phase past the budget sends from a later device on.
  const fleet = new LineProcess("devsim(budget)", devNs, options.binary, ["devsim", "-base", DEVICE_BASE, "-devices", String(devices), "-port", String(DEVICE_PORT), "-ports", String(DEVICE_PORTS), "-dst", `${NODE_IP}:${rendered.listenerPort}`], (pid) => cleanup.trackPid(pid));
  const registry = { add: (pid: number) => cleanup.trackPid(pid) } as unknown as ProcessRegistry;
  const decoder = new Decoder(options.binary, registry, podNs, POD_IP, devices);
  const decoders = new Map([["decoder", decoder]]);
  const devicesFile = join(work, "devices.txt");

  const phases = new Map<string, PhaseSamples>(BUDGET_PHASES.map((p) => [p.id, emptySamples()]));
  let nearBudgetShown = true;
  let round = 500;
  for (let rep = 0; rep < options.repetitions; rep++) {
    // A fresh stand-in per repetition, one worker: the budget is then counted as Envoy counts it, once per cluster.
    const envoy = new LineProcess(`envoy-standin(budget#${rep})`, nodeNs, options.binary, [
      "envoy-standin",
      "-listen", `0.0.0.0:${rendered.listenerPort}`,
      "-eds", eds,
      "-idle-timeout", `${BUDGET_IDLE_TIMEOUT_SECONDS}s`,
      "-max-connections", String(budget),
      "-stats-listen", `127.0.0.1:${rendered.metricsPort}`,
      "-stat-prefix", ENVOY_STAT_PREFIX,
      "-cluster-name", ENVOY_DECODER_CLUSTER,
    ], (pid) => cleanup.trackPid(pid));
    try {
      await envoy.call("stats");
      const scrape = async (): Promise<Counters> => {
        for (let attempt = 0; ; attempt++) {
          let text: string;
          try {
            text = nsExec(nodeNs, process.execPath, ["-e", `fetch("http://127.0.0.1:${rendered.metricsPort}/stats/prometheus").then((r) => r.text()).then((t) => process.stdout.write(t))`]);
          } catch (error) {
            if (attempt > 25) throw error;
            await sleep(200);
            continue;
          }
          const s = parseExposition(text);
          return { overflow: valueOf(s, overflowSeries), total: valueOf(s, totalSeries), active: valueOf(s, activeSeries), remaining: valueOf(s, remainingSeries), idleTimeout: valueOf(s, idleSeries) };
        }
      };
      for (const phase of BUDGET_PHASES) {
        if (phase.id === "after-idle") {
          // Every session ends by its idle timeout (the stand-in looks every quarter of it); nothing is sent meanwhile.
          const deadline = Date.now() + BUDGET_IDLE_TIMEOUT_SECONDS * 3000;
          while ((await scrape()).active > 0) {
            if (Date.now() > deadline) throw new Error("session budget: the sessions did not end by their idle timeout");
            await sleep(500);
          }
        }
        const before = await scrape();
        const r = round++;
        // At the budget: devices 0..budget-1 once. Past it: all devices twice, in turn, the extra ones (budget..) last
        // in each turn. After the idle timeout: the extra devices alone, once.
        const [count, from, held] = phase.id === "at-budget" ? [budget, 0, 0] : phase.id === "past-budget" ? [2 * devices, 0, budget] : [extra, budget, 0];
        const sent = await fleet.call<{ sent: number; errors: number }>(`send ${r} ${BUDGET_RATE} ${count} ${from}`);
        if (sent.errors !== 0) throw new Error(`session budget: the simulator failed ${sent.errors} sends`);
        await settle(decoders, r, count - (phase.id === "past-budget" ? 2 * extra : 0));
        await sleep(300); // anything late would still count
        const totals = (await decoder.report(r)) as { datagrams: number; sourceOk: number };
        await decoder.writeDevices(r, devicesFile);
        const seen = readFileSync(devicesFile, "utf8").split("\n").filter(Boolean).map(Number);
        const after = await scrape();
        if (totals.sourceOk !== totals.datagrams) throw new Error(`session budget: ${totals.datagrams - totals.sourceOk} datagrams lost their device source`);
        if (phase.id === "at-budget" && after.active <= nearBudget) nearBudgetShown = false;
        // Datagrams of devices that held a session: two each past the budget; dropped = sent - delivered from them (a
        // device without one that got through would have sent two).
        const heldSent = phase.id === "past-budget" ? 2 * held : 0;
        const heldDelivered = phase.id === "past-budget" ? totals.datagrams - 2 * seen.filter((d) => d >= held).length : 0;
        const p = phases.get(phase.id)!;
        p.held.push(held);
        p.sent.push(sent.sent);
        p.delivered.push(totals.datagrams);
        p.droppedHeld.push(heldSent - heldDelivered);
        p.overflow.push(after.overflow - before.overflow);
        p.total.push(after.total - before.total);
        p.active.push(after.active);
        p.remaining.push(after.remaining);
        options.log(`session budget #${rep + 1} ${phase.id}: sent ${sent.sent}, delivered ${totals.datagrams}, overflow +${after.overflow - before.overflow}, sessions +${after.total - before.total}, active ${after.active}, remaining ${after.remaining}, idle timeouts +${after.idleTimeout - before.idleTimeout}`);
        await decoder.forget(r);
      }
    } finally {
      envoy.stop();
    }
    await sleep(300);
  }
  fleet.stop();
  decoder.stop();
  return {
    stack: BUDGET_STACK,
    rendered: budget,
    newDevices: extra,
    nearBudget,
    nearBudgetShown,
    rows: BUDGET_PHASES.map((phase): BudgetPhaseRow => {
      const p = phases.get(phase.id)!;
      return {
        id: phase.id,
        held: spread(p.held),
        sent: spread(p.sent),
        delivered: spread(p.delivered),
        dropped: spread(p.sent.map((sent, i) => sent - p.delivered[i])),
        droppedHeld: spread(p.droppedHeld),
        overflow: spread(p.overflow),
        sessions: spread(p.total),
        active: spread(p.active),
        remaining: spread(p.remaining),
      };
    }),
  };
}

interface PhaseSamples {
  held: number[];
  sent: number[];
  delivered: number[];
  droppedHeld: number[];
  overflow: number[];
  total: number[];
  active: number[];
  remaining: number[];
}

function emptySamples(): PhaseSamples {
  return { held: [], sent: [], delivered: [], droppedHeld: [], overflow: [], total: [], active: [], remaining: [] };
}
