/**
 * Part 1: what the gateway's ruleset costs per datagram. A sender namespace (owning the device subnet), a router
 * namespace and a receiver namespace on veths; the router forwards in the kernel, with the gateway's rendered
 * ruleset and a filled steering map or with no ruleset at all; the receiver counts and drops at its veth's ingress.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderGatewayRuleset, renderSteeringAgentScript, type GatewayPlan } from "../infra/gateway";
import { steeringAddress, steeringApiState } from "./api-lists";
import { benchPlan, DEVICE_BASE, DEVICE_SUBNET, INGRESS_ADDRESS, INGRESS_PORT, NODE_POD_RANGE, ROUTER_KILO, ROUTER_UPLINK } from "./plan";
import { runDecisionProgram } from "./steering";
import type { Cleanup } from "../harness/cleanup";
import { runOk, sleep } from "../harness/commands";
import { buildGoModule } from "../harness/gobuild";
import { ipBatch, nsExec } from "../harness/netns";
import { LineProcess } from "../harness/processes";
import {
  BISECTION_STEPS,
  MAP_TARGETS,
  NEW_FLOW_TRIAL_MAX,
  PREFILL_FLOWS,
  REPEAT_DEVICES,
  spread,
  TRIAL_SECONDS,
  UNPACED_TRIALS,
  type GatewayCase,
  type GatewayRow,
} from "./tables";

const SENDER_IF = "bnch-s0";
const RECEIVER_IF = "bnch-r0";
/** Long enough for a row's tracked flows to outlast the row (the gateway itself uses 10-60 s). */
const BENCH_UDP_TIMEOUT = 900;

interface Trial {
  readonly sent: number;
  readonly rate: number;
  readonly received: number;
  readonly lost: number;
}

interface SendAnswer {
  sent: number;
  seconds: number;
  rate: number;
  errors: number;
}

interface SinkCounts {
  steered: number;
  toIngress: number;
  fromDevices: number;
}

export interface GatewayBenchOptions {
  readonly repetitions: number;
  readonly cases: readonly GatewayCase[];
  readonly log: (line: string) => void;
}

export class Topology {
  readonly sender: string;
  readonly router: string;
  readonly receiver: string;
  private readonly load: LineProcess;
  private loaded: number | undefined;

  constructor(
    cleanup: Cleanup,
    private readonly work: string,
    binary: string,
  ) {
    this.sender = cleanup.netns("snd");
    this.router = cleanup.netns("rtr");
    this.receiver = cleanup.netns("rcv");
    ipBatch(this.router, [
      `link add ${ROUTER_UPLINK} type veth peer name ${SENDER_IF} netns ${this.sender}`,
      `link add ${ROUTER_KILO} type veth peer name ${RECEIVER_IF} netns ${this.receiver}`,
      `addr add 172.31.1.1/30 dev ${ROUTER_UPLINK}`,
      `addr add 172.31.2.1/30 dev ${ROUTER_KILO}`,
      `link set ${ROUTER_UPLINK} up`,
      `link set ${ROUTER_KILO} up`,
      `route add ${DEVICE_SUBNET} via 172.31.1.2`,
      // Bare, datagrams keep the ingress address and go to the receiver; with the ruleset, DNAT sends them to a
      // node's steering address, also behind the receiver. Either way they leave on the same veth.
      `route add ${INGRESS_ADDRESS}/32 via 172.31.2.2`,
      `route add ${NODE_POD_RANGE} via 172.31.2.2`,
    ]);
    ipBatch(this.sender, [
      `addr add 172.31.1.2/30 dev ${SENDER_IF}`,
      `link set ${SENDER_IF} up`,
      `route add local ${DEVICE_SUBNET} dev lo`,
      "route add default via 172.31.1.1",
    ]);
    ipBatch(this.receiver, [`addr add 172.31.2.2/30 dev ${RECEIVER_IF}`, `link set ${RECEIVER_IF} up`, "route add default via 172.31.2.1"]);
    // The gateway's forwarding and reverse-path settings (gatewaySysctls), per namespace.
    nsExec(this.router, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2"]);
    const sink = join(work, "sink.nft");
    writeFileSync(
      sink,
      [
        "table netdev bench_sink {",
        "\tcounter steered {}",
        "\tcounter to_ingress {}",
        "\tcounter from_devices {}",
        "\tchain in {",
        `\t\ttype filter hook ingress device "${RECEIVER_IF}" priority 0; policy accept;`,
        `\t\tmeta protocol ip ip saddr ${DEVICE_SUBNET} udp dport ${INGRESS_PORT} counter name "from_devices"`,
        `\t\tmeta protocol ip ip daddr ${NODE_POD_RANGE} udp dport ${INGRESS_PORT} counter name "steered" drop`,
        `\t\tmeta protocol ip ip daddr ${INGRESS_ADDRESS} udp dport ${INGRESS_PORT} counter name "to_ingress" drop`,
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    nsExec(this.receiver, "nft", ["-f", sink]);
    this.load = new LineProcess("bench-load", this.sender, binary, ["-base", DEVICE_BASE, "-dst", `${INGRESS_ADDRESS}:${INGRESS_PORT}`], (pid) => cleanup.trackPid(pid));
  }

  /** Loads the rendered ruleset and a steering map of MAP_TARGETS nodes made by the decision program and the agent. */
  loadRuleset(plan: GatewayPlan): void {
    const ruleset = join(this.work, `ruleset-${plan.steering.buckets}.nft`);
    writeFileSync(ruleset, renderGatewayRuleset(plan));
    nsExec(this.router, "nft", ["-f", ruleset]);
    const transaction = join(this.work, `steer-${plan.steering.buckets}.nft`);
    writeFileSync(transaction, steeringTransaction(plan, this.work));
    nsExec(this.router, "nft", ["-f", transaction]);
    this.loaded = plan.steering.buckets;
  }

  /**
   * The reference: only what any stateful steering needs, one nat prerouting rule DNATing device datagrams by a jhash
   * of the source over the same steering addresses (conntrack then tracks every datagram; no filter rules).
   */
  loadReference(plan: GatewayPlan): void {
    const targets = Array.from({ length: MAP_TARGETS }, (_, i) => `${i} : ${steeringAddress(i)}`).join(", ");
    const reference = join(this.work, "reference.nft");
    writeFileSync(
      reference,
      [
        "table ip bench_reference {",
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
        `\t\tiifname "${plan.uplink.interfaceName}" ip daddr ${plan.ingress.address} udp dport ${plan.ingress.port} dnat to jhash ip saddr mod ${MAP_TARGETS} map { ${targets} }`,
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    nsExec(this.router, "nft", ["flush", "ruleset"]);
    nsExec(this.router, "nft", ["-f", reference]);
    this.loaded = 0;
  }

  bare(): void {
    nsExec(this.router, "nft", ["flush", "ruleset"]);
    this.loaded = undefined;
  }

  get rulesetLoaded(): boolean {
    return this.loaded !== undefined;
  }

  setUdpTimeout(seconds: number): void {
    nsExec(this.router, "sysctl", ["-q", "-w", `net.netfilter.nf_conntrack_udp_timeout=${seconds}`, `net.netfilter.nf_conntrack_udp_timeout_stream=${seconds}`]);
  }

  flushConntrack(): void {
    // Exit 1 when there was nothing to flush on some versions; any other failure is real.
    const result = runOk("sh", ["-c", `ip netns exec "$1" conntrack -F 2>&1 || true`, "sh", this.router]);
    if (/error|invalid/i.test(result) && !/0 flow entries/.test(result)) throw new Error(`conntrack -F: ${result}`);
  }

  conntrackCount(): number {
    return Number(nsExec(this.router, "conntrack", ["-C"]).trim());
  }

  sink(): SinkCounts {
    const listed = JSON.parse(nsExec(this.receiver, "nft", ["-j", "list", "counters", "table", "netdev", "bench_sink"])) as {
      nftables: Array<{ counter?: { name: string; packets: number } }>;
    };
    const packets = (name: string) => listed.nftables.find((entry) => entry.counter?.name === name)?.counter?.packets ?? 0;
    return { steered: packets("steered"), toIngress: packets("to_ingress"), fromDevices: packets("from_devices") };
  }

  /** One trial: COUNT datagrams at RATE (0: unpaced) from devices OFFSET.., cycling over SOURCES; counts what arrived. */
  async trial(rate: number, count: number, sources: number, offset = 0): Promise<Trial> {
    const before = this.sink();
    const sent = await this.load.call<SendAnswer>(`send ${Math.round(rate)} ${Math.round(count)} ${sources} ${offset}`, 120_000);
    // Wait for the last datagrams: done when all arrived or the count stood still for 200 ms.
    let last = -1;
    let still = 0;
    let after = before;
    for (;;) {
      after = this.sink();
      const received = after.steered + after.toIngress - before.steered - before.toIngress;
      if (received >= sent.sent) break;
      if (received === last) {
        still += 1;
        if (still >= 4) break;
      } else {
        still = 0;
        last = received;
      }
      await sleep(50);
    }
    const steered = after.steered - before.steered;
    const toIngress = after.toIngress - before.toIngress;
    const fromDevices = after.fromDevices - before.fromDevices;
    const received = steered + toIngress;
    // The measurement only counts if the router did what it is meant to: steer everything, or forward it unchanged,
    // and never rewrite a device's source.
    if (this.rulesetLoaded ? toIngress !== 0 : steered !== 0) {
      throw new Error(`the router ${this.rulesetLoaded ? "did not steer" : "steered without a ruleset"}: ${steered} steered, ${toIngress} to the ingress address`);
    }
    if (fromDevices !== received) throw new Error(`${received - fromDevices} datagrams arrived without their device source address`);
    return { sent: sent.sent, rate: sent.rate, received, lost: sent.sent - received };
  }

  stop(): void {
    this.load.stop();
  }
}

/** The agent's nft transaction for a decision over MAP_TARGETS synthetic ingress nodes at the plan's buckets. */
function steeringTransaction(plan: GatewayPlan, work: string): string {
  const now = Math.floor(Date.now() / 1000);
  const decision = runDecisionProgram(steeringApiState(MAP_TARGETS, 1, now), plan.steering.buckets, now, work);
  const parsed = JSON.parse(decision) as { targets: unknown[]; buckets: unknown[] };
  if (parsed.targets.length !== MAP_TARGETS || parsed.buckets.length !== plan.steering.buckets) {
    throw new Error(`the decision has ${parsed.targets.length} targets and ${parsed.buckets.length} buckets`);
  }
  const agent = join(work, "agent-render");
  writeFileSync(agent, renderSteeringAgentScript(plan));
  return runOk("bash", [agent, "render"], decision);
}

/**
 * The loss-free rate: UNPACED_TRIALS unpaced trials, the best kept when none lost anything (the sender and the
 * router share CPUs with whatever else runs, so the best trial is the one least disturbed); else bisection on the
 * paced rate between 0 and the best unpaced rate, keeping the highest achieved rate of a trial without loss.
 */
async function lossFreeRate(trial: (rate: number, count: number) => Promise<Trial>, maxCount: number, log: (line: string) => void): Promise<number> {
  const unpaced: Trial[] = [];
  for (let i = 0; i < UNPACED_TRIALS; i++) {
    const t = await trial(0, maxCount);
    log(`    unpaced: ${Math.round(t.rate)}/s, lost ${t.lost} of ${t.sent}`);
    unpaced.push(t);
  }
  const fastest = Math.max(...unpaced.map((t) => t.rate));
  if (unpaced.every((t) => t.lost === 0)) return fastest;
  let low = 0;
  let high = fastest;
  let best = Math.max(0, ...unpaced.filter((t) => t.lost === 0).map((t) => t.rate));
  for (let step = 0; step < BISECTION_STEPS; step++) {
    const target = step === 0 ? high * 0.8 : (low + high) / 2;
    const t = await trial(target, Math.min(maxCount, Math.max(10_000, target * TRIAL_SECONDS)));
    log(`    target ${Math.round(target)}/s: ${Math.round(t.rate)}/s, lost ${t.lost} of ${t.sent}`);
    if (t.lost === 0) {
      best = Math.max(best, t.rate);
      low = target;
    } else {
      high = target;
    }
  }
  if (best === 0) throw new Error(`no loss-free trial down to ${Math.round(low)}/s`);
  return best;
}

/** The UDP sender (bench/load), built once per source content and Go version into the cache outside the repository. */
function buildLoadTool(): string {
  return buildGoModule(join(__dirname, "load"), {
    cache: "bench",
    binary: "bench-load",
    purpose: "build the bench's UDP sender",
    env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" },
  });
}

export async function gatewayBench(cleanup: Cleanup, options: GatewayBenchOptions): Promise<GatewayRow[]> {
  const work = cleanup.tempDir("gateway");
  const topology = new Topology(cleanup, work, buildLoadTool());
  topology.setUdpTimeout(BENCH_UDP_TIMEOUT);
  const log = options.log;
  const rows: GatewayRow[] = [];
  // A first unpaced trial sets the scale of the trial counts (about TRIAL_SECONDS each).
  topology.bare();
  const probe = await topology.trial(0, 200_000, REPEAT_DEVICES);
  const scale = Math.max(50_000, probe.rate * TRIAL_SECONDS);
  log(`gateway: probe ${Math.round(probe.rate)} datagrams/s bare; trials of up to ${Math.round(scale)} datagrams`);
  try {
    for (const c of options.cases) {
      const plan = benchPlan(c.buckets);
      log(`gateway: ${c.id}`);
      const prefill = async () => {
        topology.loadRuleset(plan);
        topology.flushConntrack();
        const fill = await topology.trial(Math.min(100_000, probe.rate / 2), PREFILL_FLOWS, PREFILL_FLOWS);
        const tracked = topology.conntrackCount();
        log(`    prefill: ${fill.received} of ${fill.sent} arrived, ${tracked} flows tracked`);
        if (tracked < PREFILL_FLOWS) throw new Error(`only ${tracked} of ${PREFILL_FLOWS} flows tracked after the prefill`);
      };
      if (c.traffic === "tracked") await prefill();
      else topology.flushConntrack();

      const trialFor = (rate: number, count: number): Promise<Trial> => {
        switch (c.traffic) {
          case "repeat":
            return topology.trial(rate, count, REPEAT_DEVICES);
          case "new":
            topology.flushConntrack();
            return topology.trial(rate, Math.min(count, NEW_FLOW_TRIAL_MAX), Math.min(count, NEW_FLOW_TRIAL_MAX));
          case "tracked":
            return topology.trial(rate, Math.min(count, PREFILL_FLOWS), PREFILL_FLOWS);
        }
      };
      const maxCount = c.traffic === "repeat" ? scale : Math.min(scale, c.traffic === "new" ? NEW_FLOW_TRIAL_MAX : PREFILL_FLOWS);

      type Mode = "bare" | "ruleset" | "reference";
      const rates: Record<Mode, number[]> = { bare: [], ruleset: [], reference: [] };
      const modes: Mode[] = ["bare", "ruleset", "reference"];
      for (let rep = 0; rep < options.repetitions; rep++) {
        // Rotated per repetition, so that no router is always measured first or last.
        const order = modes.map((_, i) => modes[(i + rep) % modes.length]);
        for (const mode of order) {
          if (mode !== "bare" && c.traffic === "tracked" && topology.conntrackCount() < PREFILL_FLOWS) await prefill();
          if (mode === "bare") topology.bare();
          else if (mode === "ruleset") topology.loadRuleset(plan);
          else topology.loadReference(plan);
          log(`  repetition ${rep + 1}, ${mode}`);
          rates[mode].push(await lossFreeRate(trialFor, maxCount, log));
        }
      }
      const { bare, ruleset, reference } = rates;
      const ratios = ruleset.map((r, i) => r / bare[i]);
      const referenceRatios = reference.map((r, i) => r / bare[i]);
      const added = ruleset.map((r, i) => 1e9 / r - 1e9 / bare[i]);
      rows.push({ id: c.id, bare: spread(bare), ruleset: spread(ruleset), ratio: spread(ratios), referenceRatio: spread(referenceRatios), addedNs: spread(added) });
      log(`gateway: ${c.id}: ruleset/bare ${spread(ratios).median.toFixed(3)}, reference/bare ${spread(referenceRatios).median.toFixed(3)}`);
    }
  } finally {
    topology.stop();
  }
  return rows;
}
