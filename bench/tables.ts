/**
 * The bench's results and their one rendering: `npm run bench` prints these tables and writes them to
 * bench/results.md; the README shows the part between the markers. `parseResults` reads a rendered file back, so a
 * test can check that the committed file has exactly the shape the current renderer produces (every row of the
 * matrix, in order, formatted as here) without running the bench.
 *
 * Nothing here measures; bench/gateway.ts, bench/steering.ts and bench/eds.ts import the method constants below, so
 * the notes under each table describe what was run.
 */

export const TABLES_START = "<!-- bench-tables:start -->";
export const TABLES_END = "<!-- bench-tables:end -->";

// ---- Method constants (shared with the measuring modules) ----

/** Part 1: target length of one trial, seconds. */
export const TRIAL_SECONDS = 1;
/** Part 1: unpaced trials per loss-free rate (the best is kept). */
export const UNPACED_TRIALS = 2;
/** Part 1: bisection steps on the paced rate after an unpaced trial that lost datagrams. */
export const BISECTION_STEPS = 5;
/** Part 1: devices that repeat in the "tracked flows" traffic. */
export const REPEAT_DEVICES = 4096;
/** Part 1: flows put into conntrack before the full-table rows. */
export const PREFILL_FLOWS = 250_000;
/** Part 1: the most datagrams of a new-flow trial (each from its own device address; the table holds them all). */
export const NEW_FLOW_TRIAL_MAX = 250_000;
/** Part 1: ingress nodes in the steering map. */
export const MAP_TARGETS = 4;
/** Part 1: UDP payload bytes of each datagram. */
export const PAYLOAD_BYTES = 64;
/** Part 3: EndpointSlice changes per sidecar process. */
export const EDS_CHANGES_PER_RUN = 10;
/** Part 4: devices of the lab's fleet, and the rate they stream at (each device sends every RECOVERY_DEVICES / RECOVERY_RATE s). */
export const RECOVERY_DEVICES = 2000;
export const RECOVERY_RATE = 2000;
/** Part 5: the stack whose rendered max_connections is held. */
export const BUDGET_STACK = "prod";
/** Part 5: datagrams per second of the device simulator. */
export const BUDGET_RATE = 10_000;
/** Part 5: the stand-in's idle timeout, Envoy's 60 s scaled down so that the sessions end within a repetition. */
export const BUDGET_IDLE_TIMEOUT_SECONDS = 15;

/** Part 5: devices sent past a budget: a tenth of it. */
export function newDevicesPast(budget: number): number {
  return Math.ceil(budget / 10);
}

// ---- The matrix ----

export type GatewayTraffic = "repeat" | "new" | "tracked";

export interface GatewayCase {
  readonly id: string;
  readonly buckets: number;
  readonly traffic: GatewayTraffic;
}

export const GATEWAY_CASES: readonly GatewayCase[] = [
  { id: "repeat-256", buckets: 256, traffic: "repeat" },
  { id: "repeat-4096", buckets: 4096, traffic: "repeat" },
  { id: "new-256", buckets: 256, traffic: "new" },
  { id: "new-4096", buckets: 4096, traffic: "new" },
  { id: "tracked-256", buckets: 256, traffic: "tracked" },
];

const TRAFFIC_LABELS: Record<GatewayTraffic, string> = {
  repeat: `${count(REPEAT_DEVICES)} devices over and over: their flows stay tracked`,
  new: "every datagram from a new device: a new flow each",
  tracked: `${count(PREFILL_FLOWS)} flows tracked, every datagram one of them`,
};

export interface SteeringSize {
  readonly nodes: number;
  readonly perNode: number;
  readonly buckets: number;
}

export const STEERING_SIZES: readonly SteeringSize[] = [
  ...[3, 30, 300, 1000].flatMap((nodes) => [1, 10, 100].map((perNode) => ({ nodes, perNode, buckets: 256 }))),
  { nodes: 1000, perNode: 10, buckets: 4096 },
];

/** The size the steering goal is stated at. */
export const STEERING_GOAL_SIZE: SteeringSize = { nodes: 1000, perNode: 10, buckets: 256 };

export interface EdsSize {
  readonly endpoints: number;
  /** Of them, on the sidecar's node. */
  readonly local: number;
}

export const EDS_SIZES: readonly EdsSize[] = [
  { endpoints: 10, local: 10 },
  { endpoints: 1000, local: 10 },
  { endpoints: 1000, local: 1000 },
  { endpoints: 10_000, local: 10 },
  { endpoints: 10_000, local: 10_000 },
];

export const EDS_GOAL_ENDPOINTS = 10_000;

export type RecoveryChange = "decoder" | "envoy" | "kilo-join" | "kilo-leave";

export const RECOVERY_CHANGES: ReadonlyArray<{ readonly id: RecoveryChange; readonly label: string }> = [
  { id: "decoder", label: "the node's decoder stops being ready" },
  { id: "envoy", label: "the node's Envoy stops" },
  { id: "kilo-join", label: "Kilo renumbering: a node that sorts first joins" },
  { id: "kilo-leave", label: "Kilo renumbering: it leaves again" },
];

export type BudgetPhase = "at-budget" | "past-budget" | "after-idle";

export const BUDGET_PHASES: ReadonlyArray<{ readonly id: BudgetPhase; readonly label: string }> = [
  { id: "at-budget", label: "1. at the budget: max_connections devices, one datagram each" },
  { id: "past-budget", label: "2. past it: the same devices and the new ones, two datagrams each, in turn" },
  { id: "after-idle", label: "3. after every session's idle timeout: the new devices, one datagram each" },
];

// ---- Results ----

/** The median of the repetitions, and the lowest and highest. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  /** File system of the temporary directory, where the EDS sidecar writes (and fsyncs) its file. */
  readonly tmpFs: string;
  /** 1-minute load average when the bench started: the machine is shared. */
  readonly loadAverage: number;
  readonly node: string;
  readonly jq: string;
  readonly nft: string;
  readonly go: string;
}

export interface RunInfo {
  readonly command: string;
  /** YYYY-MM-DD. */
  readonly date: string;
  readonly minutes: number;
  readonly repetitions: number;
}

export interface GatewayRow {
  readonly id: string;
  /** Loss-free datagrams per second. */
  readonly bare: Spread;
  readonly ruleset: Spread;
  /** ruleset / bare, per repetition. */
  readonly ratio: Spread;
  /** The reference (conntrack and one DNAT rule, nothing else) / bare, per repetition: the floor of stateful steering. */
  readonly referenceRatio: Spread;
  /** 1/ruleset - 1/bare per repetition, nanoseconds: what the rules add to each datagram's path. */
  readonly addedNs: Spread;
}

export interface SteeringRow extends SteeringSize {
  /** Size of the three API lists, MB. */
  readonly listsMb: number;
  /** jq reading the decision program's input and doing nothing else (`jq length`). */
  readonly parseMs: Spread;
  readonly decisionMs: Spread;
  readonly decisionMb: Spread;
  readonly agentMs: Spread;
  readonly agentMb: Spread;
  readonly applyMs: Spread;
}

export interface EdsRow extends EdsSize {
  readonly slices: number;
  readonly startMs: Spread;
  readonly changeMs: Spread;
  readonly rssMb: Spread;
  readonly peakMb: Spread;
}

export interface RecoveryRow {
  readonly id: RecoveryChange;
  /** Devices on the leaving node; undefined for a renumbering. */
  readonly onNode: Spread | undefined;
  /** Change to the end of the agent run that applied a map without the node; undefined for a renumbering. */
  readonly mapMs: Spread | undefined;
  /** Change to the first arrival elsewhere of the node's last device to move; undefined for a renumbering. */
  readonly lastDeviceMs: Spread | undefined;
  /** Leaving: the node's devices that arrived on another node. Renumbering: devices seen on two nodes. */
  readonly moved: Spread;
  /** Agent runs after the change that rewrote the map. */
  readonly mapChanges: Spread;
  readonly lost: Spread;
  readonly lostPercent: Spread;
  /** The longest run of 100 ms send buckets that lost anything. */
  readonly lossWindowMs: Spread;
}

export interface RecoveryResults {
  readonly node: string;
  readonly intervalSeconds: number;
  readonly accuracySeconds: number;
  /** Every agent run of the timer during the part. */
  readonly agentMs: Spread;
  readonly devices: number;
  readonly rate: number;
  readonly rows: readonly RecoveryRow[];
}

export interface BudgetPhaseRow {
  readonly id: BudgetPhase;
  /** Devices holding a session when the phase starts. */
  readonly held: Spread;
  readonly sent: Spread;
  readonly delivered: Spread;
  readonly dropped: Spread;
  /** Of the dropped, datagrams of devices holding a session. */
  readonly droppedHeld: Spread;
  /** Increase of envoy_cluster_upstream_cx_overflow over the phase, from /stats/prometheus. */
  readonly overflow: Spread;
  /** Increase of envoy_udp_downstream_sess_total. */
  readonly sessions: Spread;
  /** envoy_udp_downstream_sess_active after the phase. */
  readonly active: Spread;
  /** envoy_cluster_circuit_breakers_default_remaining_cx after the phase. */
  readonly remaining: Spread;
}

export interface BudgetResults {
  readonly stack: string;
  /** max_connections as the stack renders it, and held unscaled. */
  readonly rendered: number;
  readonly newDevices: number;
  /** IotIngressSessionsNearBudget's threshold, and whether the sessions at the budget were above it in every repetition. */
  readonly nearBudget: number;
  readonly nearBudgetShown: boolean;
  readonly rows: readonly BudgetPhaseRow[];
}

export interface BenchResults {
  readonly machine: MachineInfo;
  readonly run: RunInfo;
  readonly gateway: readonly GatewayRow[];
  readonly steering: readonly SteeringRow[];
  readonly eds: readonly EdsRow[];
  /** Part 4; absent from a results file written before it was measured. */
  readonly recovery?: RecoveryResults;
  /** Part 5; absent likewise. */
  readonly budget?: BudgetResults;
}

// ---- Numbers: every format is stable under parse and format again ----

function count(value: number): string {
  return (Math.round(value) || 0).toLocaleString("en-US");
}

/** Fixed decimals below each limit (checked on the rounded value), a whole number with separators above. */
function banded(value: number, bands: ReadonlyArray<readonly [number, number]>): string {
  for (const [limit, decimals] of bands) {
    const text = value.toFixed(decimals);
    if (Math.abs(Number(text)) < limit) return text === `-${(0).toFixed(decimals)}` ? (0).toFixed(decimals) : text;
  }
  return count(value);
}

export const formats = {
  count,
  ratio: (value: number): string => banded(value, [[Infinity, 3]]),
  ms: (value: number): string => banded(value, [[100, 1]]),
  mb: (value: number): string => banded(value, [[1, 2], [100, 1]]),
  percent: (value: number): string => banded(value, [[Infinity, 2]]),
};

export function parseNumber(text: string): number {
  const value = Number(text.replace(/,/g, ""));
  if (text.trim() === "" || !Number.isFinite(value)) throw new Error(`not a number: "${text}"`);
  return value;
}

function spreadCell(spread: Spread, format: (value: number) => string): string {
  return `${format(spread.median)} (${format(spread.min)}–${format(spread.max)})`;
}

function parseSpread(cell: string): Spread {
  const match = /^(\S+) \((\S+)–(\S+)\)$/.exec(cell);
  if (match === null) throw new Error(`not "median (lowest–highest)": "${cell}"`);
  return { median: parseNumber(match[1]), min: parseNumber(match[2]), max: parseNumber(match[3]) };
}

/** A count that every repetition gave alike is shown once; otherwise as a spread. */
function countCell(spread: Spread): string {
  return spread.min === spread.max ? count(spread.median) : spreadCell(spread, count);
}

function parseCountCell(cell: string): Spread {
  if (cell.includes("(")) return parseSpread(cell);
  const value = parseNumber(cell);
  return { median: value, min: value, max: value };
}

const NONE = "—";

function optionalCell(spread: Spread | undefined, format: (value: number) => string): string {
  return spread === undefined ? NONE : spreadCell(spread, format);
}

function parseOptional(cell: string): Spread | undefined {
  return cell === NONE ? undefined : parseSpread(cell);
}

/** The median and range of samples. */
export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Whether the value as shown meets the goal: verdicts follow the printed number, so they survive a re-parse. */
function shown(format: (value: number) => string, value: number): number {
  return parseNumber(format(value));
}

// ---- Rendering ----

const RATIO_GOAL = 0.9;
const TIME_GOAL_MS = 1000;
const MEMORY_GOAL_MB = 100;

const GATEWAY_HEADER = [
  "| ruleset | traffic | bare router (datagrams/s) | with the ruleset (datagrams/s) | ruleset / bare | reference / bare | added per datagram (ns) | ≥ 0.9 |",
  "|---|---|---:|---:|---:|---:|---:|:---:|",
];

const STEERING_HEADER = [
  "| ingress nodes | decoder endpoints per node | buckets | API lists (MB) | jq parsing alone (ms) | decision program (ms) | its peak memory (MB) | agent run (ms) | its peak memory (MB) | nft apply (ms) |",
  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];

const EDS_HEADER = [
  "| endpoints in the Service | on this node | slices | start to first file (ms) | change to renamed file (ms) | resident memory (MB) | peak resident (MB) |",
  "|---:|---:|---:|---:|---:|---:|---:|",
];

const RECOVERY_HEADER = [
  "| change | devices on the node | to the map without the node (ms) | to its last device on another node (ms) | devices that changed node | map rewrites | datagrams lost | lost (% of the stream) | longest lossy stretch (ms) |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
];

const BUDGET_HEADER = [
  "| phase | devices holding a session at its start | datagrams sent | delivered to the decoder | dropped | of them from devices holding a session | `envoy_cluster_upstream_cx_overflow` increase | `envoy_udp_downstream_sess_total` increase | `envoy_udp_downstream_sess_active` after | `envoy_cluster_circuit_breakers_default_remaining_cx` after |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];

const HEADINGS = {
  gateway: "#### 1. Gateway rules: loss-free datagram rate through a namespace router, with the ruleset and without",
  steering: "#### 2. Steering agent: one decision, from the API lists to the applied map",
  eds: "#### 3. EDS sidecar: from an EndpointSlice change to the renamed EDS file",
  recovery: "#### 4. Recovery: an ingress node leaves, or Kilo renumbers, with the steering agent on its timer",
  budget: "#### 5. Session budget: the Envoy stand-in at max_connections, then past it",
};

function bucketsLabel(buckets: number): string {
  return `${count(buckets)} buckets`;
}

function gatewayCase(id: string): GatewayCase {
  const found = GATEWAY_CASES.find((c) => c.id === id);
  if (found === undefined) throw new Error(`unknown gateway case ${id}`);
  return found;
}

function header(results: BenchResults): string[] {
  const { machine: m, run: r } = results;
  return [
    `- Machine: ${m.cpus} CPUs (${m.cpuModel}), Linux ${m.kernel}, temporary files on ${m.tmpFs}, load average ${m.loadAverage.toFixed(2)} at the start`,
    `- Tools: Node ${m.node}, ${m.jq}, nftables ${m.nft}, ${m.go}`,
    `- Command: \`${r.command}\`, on ${r.date}, ${r.minutes.toFixed(1)} min; each figure is the median of ${r.repetitions} repetitions (lowest–highest in parentheses)`,
  ];
}

function gatewaySection(rows: readonly GatewayRow[]): string[] {
  const lines = [HEADINGS.gateway, "", ...GATEWAY_HEADER];
  for (const row of rows) {
    const c = gatewayCase(row.id);
    const met = shown(formats.ratio, row.ratio.median) >= RATIO_GOAL;
    lines.push(
      `| ${bucketsLabel(c.buckets)} | ${TRAFFIC_LABELS[c.traffic]} | ${spreadCell(row.bare, formats.count)} | ${spreadCell(row.ruleset, formats.count)} | ${spreadCell(row.ratio, formats.ratio)} | ${spreadCell(row.referenceRatio, formats.ratio)} | ${spreadCell(row.addedNs, formats.count)} | ${met ? "yes" : "no"} |`,
    );
  }
  const failing = rows.filter((row) => shown(formats.ratio, row.ratio.median) < RATIO_GOAL);
  const references = rows.map((row) => shown(formats.ratio, row.referenceRatio.median));
  lines.push(
    "",
    `Goal: the ruleset keeps at least ${RATIO_GOAL} of the bare rate. ` +
      `${failing.length === 0 ? "Met in every row." : `Not met in ${failing.length} of ${rows.length} rows.`} ` +
      `The reference keeps ${formats.ratio(Math.min(...references))} to ${formats.ratio(Math.max(...references))} of it in the same rows.`,
    "",
    `Three namespaces on veths: a sender owning the device subnet, the router, and a receiver that counts each datagram ` +
      `with nft counters at its veth's ingress hook and drops it (the same cheap sink for every column). The router forwards ` +
      `in the kernel only, no WireGuard. "With the ruleset": the gateway's rendered ruleset (renderGatewayRuleset, its ` +
      `interface names set to the router's veths) and a steering map of ${MAP_TARGETS} ingress nodes made by the real decision ` +
      `program and the agent's \`render\`; every datagram is DNATed to a node's steering address (checked: none arrives ` +
      `unsteered, none loses its device source). "Bare": the same router after \`nft flush ruleset\`. "Reference": the same ` +
      `router with only what any stateful steering needs, one nat prerouting rule DNATing by a jhash of the source over the ` +
      `same ${MAP_TARGETS} addresses, so conntrack tracks and NAT rewrites every datagram and nothing else runs. ` +
      `Datagrams carry ${PAYLOAD_BYTES} bytes of UDP payload. Loss-free rate: ${UNPACED_TRIALS} unpaced trials of about ${TRIAL_SECONDS} s, the fastest ` +
      `kept when neither lost a datagram, else ${BISECTION_STEPS} bisection steps on the paced rate; the highest rate of a ` +
      `trial that lost no datagram. Each repetition measures the three routers back to back (rotating which goes first) and takes the ` +
      `ratios within the repetition. New-flow trials flush conntrack first and send at most ${count(NEW_FLOW_TRIAL_MAX)} datagrams. ` +
      `The ${count(PREFILL_FLOWS)} tracked flows are made by sending one datagram from each of ${count(PREFILL_FLOWS)} device ` +
      `addresses through the ruleset first (real steered, DNATed entries; the router's UDP conntrack timeout raised so that ` +
      `they last the row). Sender, router and receiver share the machine's CPUs and the forwarding runs on the sender's ` +
      `CPU, so a rate is what one CPU pushes through the whole path, the sender's system calls included; "added per ` +
      `datagram" is the CPU time the ruleset adds to each datagram (1/ruleset - 1/bare).`,
  );
  return lines;
}

function steeringSection(rows: readonly SteeringRow[]): string[] {
  const lines = [HEADINGS.steering, "", ...STEERING_HEADER];
  for (const row of rows) {
    lines.push(
      `| ${count(row.nodes)} | ${count(row.perNode)} | ${count(row.buckets)} | ${formats.mb(row.listsMb)} | ${spreadCell(row.parseMs, formats.ms)} | ${spreadCell(row.decisionMs, formats.ms)} | ${spreadCell(row.decisionMb, formats.mb)} | ${spreadCell(row.agentMs, formats.ms)} | ${spreadCell(row.agentMb, formats.mb)} | ${spreadCell(row.applyMs, formats.ms)} |`,
    );
  }
  const goal = rows.find((row) => row.nodes === STEERING_GOAL_SIZE.nodes && row.perNode === STEERING_GOAL_SIZE.perNode && row.buckets === STEERING_GOAL_SIZE.buckets);
  const smallest = rows[0];
  if (goal !== undefined) {
    const verdict = (ms: Spread, mb: Spread) =>
      `${formats.ms(ms.median)} ms (${shown(formats.ms, ms.median) < TIME_GOAL_MS ? "met" : "not met"}) and ` +
      `${formats.mb(mb.median)} MB (${shown(formats.mb, mb.median) < MEMORY_GOAL_MB ? "met" : "not met"})`;
    lines.push(
      "",
      `Goal at ${count(goal.nodes)} nodes and ${count(goal.nodes * goal.perNode)} endpoints (${count(goal.buckets)} buckets): ` +
        `under ${count(TIME_GOAL_MS)} ms and ${MEMORY_GOAL_MB} MB. The decision program: ${verdict(goal.decisionMs, goal.decisionMb)}. ` +
        `The whole agent run: ${verdict(goal.agentMs, goal.agentMb)}; at ${count(smallest.nodes)} nodes and ` +
        `${count(smallest.nodes * smallest.perNode)} endpoints it takes ${formats.ms(smallest.agentMs.median)} ms.`,
    );
  }
  lines.push(
    "",
    `Synthetic API lists shaped like \`kubectl get -o json\` output (Nodes with status, images and Kilo annotations; Envoy ` +
      `Pods with spec and status; EndpointSlices of at most 100 endpoints), every node a healthy ingress node that the ` +
      `Kilo interface routes. "Decision program": \`jq -f steering-targets.jq\` with the agent's arguments on the object ` +
      `the agent builds from the three lists; "jq parsing alone": \`jq length\` on the same input, what any jq program ` +
      `pays before its first step. "Agent run": the real \`steering-agent.sh sync\` (rendered by ` +
      `renderSteeringAgentScript) in a namespace holding the loaded ruleset, with stand-ins for kubectl and wg that print ` +
      `the prepared lists (a real kubectl adds its own time and memory, not measured here): list checks, the decision, mesh ` +
      `status, the transaction, \`nft -f\`, the metrics file; the map is rewritten each run. Peak memory is GNU time's ` +
      `maximum resident set of the largest process (for the agent run, of any process it started); MB are 2^20 bytes. "nft apply": \`nft -f\` ` +
      `of the agent's transaction (flush and refill of the map and the steering rule) on the loaded ruleset, timed alone.`,
  );
  return lines;
}

function edsSection(rows: readonly EdsRow[]): string[] {
  const lines = [HEADINGS.eds, "", ...EDS_HEADER];
  for (const row of rows) {
    lines.push(
      `| ${count(row.endpoints)} | ${count(row.local)} | ${count(row.slices)} | ${spreadCell(row.startMs, formats.ms)} | ${spreadCell(row.changeMs, formats.ms)} | ${spreadCell(row.rssMb, formats.mb)} | ${spreadCell(row.peakMb, formats.mb)} |`,
    );
  }
  const goals = rows.filter((row) => row.endpoints === EDS_GOAL_ENDPOINTS);
  if (goals.length > 0) {
    const verdicts = goals.map((row) => {
      const time = shown(formats.ms, row.changeMs.max) < TIME_GOAL_MS;
      const memory = shown(formats.mb, row.peakMb.max) < MEMORY_GOAL_MB;
      return (
        `with ${count(row.local)} on this node, the slowest change took ${formats.ms(row.changeMs.max)} ms (${time ? "met" : "not met"}) ` +
        `and the highest peak was ${formats.mb(row.peakMb.max)} MB (${memory ? "met" : "not met"})`
      );
    });
    const joined = verdicts.join("; ");
    lines.push("", `Goal at ${count(EDS_GOAL_ENDPOINTS)} endpoints: under ${count(TIME_GOAL_MS)} ms and ${MEMORY_GOAL_MB} MB. ${joined[0].toUpperCase()}${joined.slice(1)}.`);
  }
  lines.push(
    "",
    `The real sidecar (\`node infra/envoy/eds-sidecar/sidecar.js\`) against a fake API server on loopback that serves the ` +
      `list and holds the watch open. Each repetition is a fresh sidecar process: "start to first file" is from its spawn ` +
      `to the EDS file listing every ready local endpoint; then ${EDS_CHANGES_PER_RUN} changes, each a MODIFIED event of one ` +
      `slice flipping a local endpoint's ready condition, timed from writing the event to the watch until the file is renamed ` +
      `into place with the new content (inotify); the change column covers all of them. Memory from /proc after the ` +
      `changes: VmRSS and VmHWM (peak).`,
  );
  return lines;
}

const RECOVERY_FIRST = /^Node `(\S+)` of the lab's 3 ingress nodes; ([\d,]+) devices stream ([\d,]+) datagrams\/s; the timer: OnUnitActiveSec (\d+) s, AccuracySec (\d+) s; the agent's runs took (\S+ \(\S+–\S+\)) ms\.$/;

function recoverySection(r: RecoveryResults): string[] {
  const lines = [
    HEADINGS.recovery,
    "",
    `Node \`${r.node}\` of the lab's 3 ingress nodes; ${count(r.devices)} devices stream ${count(r.rate)} datagrams/s; the timer: OnUnitActiveSec ${r.intervalSeconds} s, AccuracySec ${r.accuracySeconds} s; the agent's runs took ${spreadCell(r.agentMs, formats.ms)} ms.`,
    "",
    ...RECOVERY_HEADER,
  ];
  for (const row of r.rows) {
    const label = RECOVERY_CHANGES.find((c) => c.id === row.id)!.label;
    lines.push(
      `| ${label} | ${optionalCell(row.onNode, count)} | ${optionalCell(row.mapMs, count)} | ${optionalCell(row.lastDeviceMs, count)} | ${countCell(row.moved)} | ${countCell(row.mapChanges)} | ${spreadCell(row.lost, count)} | ${spreadCell(row.lostPercent, formats.percent)} | ${spreadCell(row.lossWindowMs, count)} |`,
    );
  }
  // The bound a leave can be held to: the longest wait for the timer, plus one run.
  const boundMs = (r.intervalSeconds + r.accuracySeconds) * 1000 + r.agentMs.max;
  const leaves = r.rows.filter((row) => row.mapMs !== undefined);
  const renumberings = r.rows.filter((row) => row.mapMs === undefined);
  const slowest = Math.max(...leaves.map((row) => row.mapMs!.max));
  const last = Math.max(...leaves.map((row) => row.lastDeviceMs?.max ?? Infinity));
  const allMoved = leaves.every((row) => row.onNode !== undefined && row.moved.min === row.onNode.max && row.onNode.min === row.onNode.max);
  const still = renumberings.every((row) => row.moved.max === 0 && row.mapChanges.max === 0);
  const window = Math.max(0, ...renumberings.map((row) => row.lossWindowMs.max));
  lines.push(
    "",
    `Bound for a leave: the timer's longest wait, OnUnitActiveSec + AccuracySec, plus the slowest agent run: ${count(boundMs)} ms. ` +
      `The map without the node came at most ${count(slowest)} ms after the change (${shown(count, slowest) <= shown(count, boundMs) ? "within it" : "not within it"}); ` +
      `the last of its devices arrived on another node at most ${count(last)} ms after it, ${allMoved ? "every one of them" : "not all of them"}. ` +
      `Renumbering: ${still ? "no device changed node and the map was never rewritten" : "devices changed node or the map was rewritten"}; the longest lossy stretch was ${count(window)} ms (${window <= r.intervalSeconds * 1000 ? "within" : "beyond"} one steering interval).`,
    "",
    `The lab's data path (\`lab/lab.ts\`, as \`npm run lab\` builds it) with the real steering agent reading the lab's API server, ` +
      `run by a loop that does what its rendered units tell systemd (steeringAgentTimerUnit, steeringAgentServiceUnit): the ` +
      `service's ExecStart in the gateway's namespace, the next run OnUnitActiveSec after the last one started, at a fixed ` +
      `random offset within AccuracySec, never two at once; nothing else runs the agent. Each repetition streams, then makes the change at a random point of the ` +
      `timer's cycle: "decoder": its endpoint turns not ready in the EndpointSlice and the node's Envoy stand-in loses it from ` +
      `EDS (no upstream: every datagram dropped); "Envoy": the Envoy stand-in is stopped and its pod deleted. Times are from ` +
      `the change, which includes writing it to the API server (kubectl apply), to the end of the agent run that applied the ` +
      `new map (it also deletes the flows to the node from conntrack), and to the arrival on another node's decoder of the ` +
      `node's last device to move; a device sends every ${formats.ms(r.devices / r.rate)} s here, so the last one arrives up to that much after the map ` +
      `(a real device reports every few minutes and loses at most the datagram it sends meanwhile). "Devices on the node": ` +
      `those that arrived there in the stream before it left. Renumbering is scenario h's mechanism: every node's Kilo IP ` +
      `shifts, the lab plays kg on each node (peers replaced with \`wg setconf\`, which drops wireguard-go's sessions: the loss ` +
      `is a worst case), the API gets the new annotations, and kgctl connect's resync follows a second later; "devices that ` +
      `changed node" are those seen on two nodes in the stream. Loss counts every datagram of the stream that no decoder ` +
      `received; the lossy stretch is the longest run of 100 ms send buckets that lost any. After each repetition the node ` +
      `comes back, the agent's timer restores the map, and the gateway's conntrack entries for the ingress address are ` +
      `deleted, standing in for the minutes between a device's reports (each report is a new flow).`,
  );
  return lines;
}

const BUDGET_FIRST = /^max_connections ([\d,]+), as the (\S+) stack renders it into the Envoy bootstrap, held unscaled; devices past it: ([\d,]+)\.$/;

function budgetSection(b: BudgetResults): string[] {
  const lines = [
    HEADINGS.budget,
    "",
    `max_connections ${count(b.rendered)}, as the ${b.stack} stack renders it into the Envoy bootstrap, held unscaled; devices past it: ${count(b.newDevices)}.`,
    "",
    ...BUDGET_HEADER,
  ];
  for (const row of b.rows) {
    const label = BUDGET_PHASES.find((p) => p.id === row.id)!.label;
    lines.push(
      `| ${label} | ${countCell(row.held)} | ${countCell(row.sent)} | ${countCell(row.delivered)} | ${countCell(row.dropped)} | ${countCell(row.droppedHeld)} | ${countCell(row.overflow)} | ${countCell(row.sessions)} | ${countCell(row.active)} | ${countCell(row.remaining)} |`,
    );
  }
  const same = (a: Spread, c: Spread) => a.min === c.min && a.max === c.max && a.median === c.median;
  const past = b.rows.find((row) => row.id === "past-budget");
  const exact =
    b.rows.every((row) => same(row.dropped, row.overflow) && row.droppedHeld.max === 0) &&
    past !== undefined && past.dropped.min === 2 * b.newDevices && past.dropped.max === 2 * b.newDevices && past.sessions.max === 0;
  lines.push(
    "",
    `${exact ? "Shown" : "Not shown"} in every repetition: past the budget exactly the datagrams of the devices without a session were dropped ` +
      `(two from each of the ${count(b.newDevices)}), none of a device holding one, each counted once in \`envoy_cluster_upstream_cx_overflow\`, ` +
      `the series of the IotIngressSessionOverflow alert (infra/observability/alerts.ts), and no session was made for them; ` +
      `once the sessions had idled out, the same devices got sessions. At the budget \`envoy_udp_downstream_sess_active\` was ` +
      `${b.nearBudgetShown ? "above" : "not above"} IotIngressSessionsNearBudget's threshold of ${formats.count(b.nearBudget)}. What limits the budget: ` +
      `a node's 28,232 ephemeral ports (each session's socket takes one), which max_connections must stay under; more ingress ` +
      `nodes lower each node's share.`,
    "",
    `The Envoy stand-in (\`lab/standins/envoy.go\`) does what Envoy's udp_proxy does at the cluster circuit breaker, as read in ` +
      `envoyproxy/envoy source/extensions/filters/udp/udp_proxy/udp_proxy_filter.cc (ClusterInfo::createSession, reached only ` +
      `for a source without a session: when the connections resource cannot create, upstream_cx_overflow is incremented and ` +
      `the datagram dropped, per datagram; sessions that exist are not touched) and source/common/upstream/resource_manager_impl.h ` +
      `(remaining_cx). One stand-in worker, so the budget is counted once as Envoy counts it per cluster; a fresh one per ` +
      `repetition. Three namespaces on veths: the device simulator, the ingress node with the stand-in (its idle timeout ` +
      `${BUDGET_IDLE_TIMEOUT_SECONDS} s, Envoy's 60 s scaled down so that phase 3 comes within a repetition), the decoder stand-in ` +
      `in its pod; ${count(BUDGET_RATE)} datagrams/s. "Delivered" and "of them from devices holding a session" come from the ` +
      `decoder (every datagram checked to carry its device's source address); the four Envoy series from the stand-in's ` +
      `\`/stats/prometheus\` (started with \`-stats-listen\`), scraped before and after each phase under the names and tags ` +
      `the alert rules and the dashboard query.`,
  );
  return lines;
}

/** The part of bench/results.md (and of the README) between the markers, markers excluded. */
export function renderTables(results: BenchResults): string {
  // A partial run (some parts only) prints the parts it ran.
  const sections = [
    results.gateway.length > 0 ? gatewaySection(results.gateway) : [],
    results.steering.length > 0 ? steeringSection(results.steering) : [],
    results.eds.length > 0 ? edsSection(results.eds) : [],
    results.recovery !== undefined ? recoverySection(results.recovery) : [],
    results.budget !== undefined ? budgetSection(results.budget) : [],
  ].filter((lines) => lines.length > 0);
  return [...header(results), ...sections.flatMap((lines) => ["", ...lines])].join("\n");
}

/** The whole of bench/results.md. */
export function renderResultsFile(results: BenchResults): string {
  return [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/main.ts; tables rendered by bench/tables.ts). Do not edit: run the bench again.",
    "",
    TABLES_START,
    renderTables(results),
    TABLES_END,
    "",
  ].join("\n");
}

// ---- Parsing ----

/** The text between the markers of a results file or a README. */
export function extractTables(text: string): string {
  const start = text.indexOf(`${TABLES_START}\n`);
  const end = text.indexOf(`\n${TABLES_END}`);
  if (start < 0 || end < start) throw new Error(`no ${TABLES_START} ... ${TABLES_END} section`);
  return text.slice(start + TABLES_START.length + 1, end);
}

function tableRows(lines: readonly string[], heading: string, expectedHeader: readonly string[]): string[][] {
  const at = lines.indexOf(heading);
  if (at < 0) throw new Error(`missing heading "${heading}"`);
  const head = lines.slice(at + 2, at + 2 + expectedHeader.length);
  if (lines[at + 1] !== "" || head.join("\n") !== expectedHeader.join("\n")) {
    throw new Error(`the table under "${heading}" does not have the rendered header:\n${head.join("\n")}`);
  }
  const rows: string[][] = [];
  for (let i = at + 2 + expectedHeader.length; i < lines.length && lines[i].startsWith("|"); i++) {
    const line = lines[i];
    if (!line.startsWith("| ") || !line.endsWith(" |")) throw new Error(`malformed row: ${line}`);
    const cells = line.slice(2, -2).split(" | ");
    if (cells.length !== expectedHeader[1].split("|").length - 2) throw new Error(`row with ${cells.length} cells: ${line}`);
    rows.push(cells);
  }
  return rows;
}

function match(line: string | undefined, pattern: RegExp, what: string): RegExpExecArray {
  const found = pattern.exec(line ?? "");
  if (found === null) throw new Error(`${what} line not as rendered: "${line ?? ""}"`);
  return found;
}

function expectKeys<A, E>(what: string, actual: readonly A[], actualKey: (value: A) => string, expected: readonly E[], expectedKey: (value: E) => string): void {
  const a = actual.map(actualKey).join(", ");
  const e = expected.map(expectedKey).join(", ");
  if (a !== e) throw new Error(`${what} rows are [${a}], the bench renders [${e}]`);
}

/**
 * Reads a rendered results file (or the tables section alone) back into results. Throws when a heading, header,
 * row of the matrix or cell is not what the renderer writes.
 */
export function parseResults(text: string): BenchResults {
  const lines = extractTables(text).split("\n");
  const machine = match(lines[0], /^- Machine: (\d+) CPUs \((.*)\), Linux (\S+), temporary files on (\S+), load average ([\d.]+) at the start$/, "Machine");
  const tools = match(lines[1], /^- Tools: Node (\S+), (\S+), nftables (\S+), (\S+)$/, "Tools");
  const command = match(lines[2], /^- Command: `(.+)`, on (\d{4}-\d{2}-\d{2}), ([\d.]+) min; each figure is the median of (\d+) repetitions \(lowest–highest in parentheses\)$/, "Command");

  const gateway = tableRows(lines, HEADINGS.gateway, GATEWAY_HEADER).map((cells): GatewayRow => {
    const c = GATEWAY_CASES.find((candidate) => bucketsLabel(candidate.buckets) === cells[0] && TRAFFIC_LABELS[candidate.traffic] === cells[1]);
    if (c === undefined) throw new Error(`unknown gateway row: ${cells[0]} | ${cells[1]}`);
    return {
      id: c.id,
      bare: parseSpread(cells[2]),
      ruleset: parseSpread(cells[3]),
      ratio: parseSpread(cells[4]),
      referenceRatio: parseSpread(cells[5]),
      addedNs: parseSpread(cells[6]),
    };
  });
  expectKeys("gateway", gateway, (row) => row.id, GATEWAY_CASES, (c) => c.id);

  const steering = tableRows(lines, HEADINGS.steering, STEERING_HEADER).map(
    (cells): SteeringRow => ({
      nodes: parseNumber(cells[0]),
      perNode: parseNumber(cells[1]),
      buckets: parseNumber(cells[2]),
      listsMb: parseNumber(cells[3]),
      parseMs: parseSpread(cells[4]),
      decisionMs: parseSpread(cells[5]),
      decisionMb: parseSpread(cells[6]),
      agentMs: parseSpread(cells[7]),
      agentMb: parseSpread(cells[8]),
      applyMs: parseSpread(cells[9]),
    }),
  );
  const sizeKey = (size: SteeringSize) => `${size.nodes}x${size.perNode}@${size.buckets}`;
  expectKeys("steering", steering, sizeKey, STEERING_SIZES, sizeKey);

  const eds = tableRows(lines, HEADINGS.eds, EDS_HEADER).map(
    (cells): EdsRow => ({
      endpoints: parseNumber(cells[0]),
      local: parseNumber(cells[1]),
      slices: parseNumber(cells[2]),
      startMs: parseSpread(cells[3]),
      changeMs: parseSpread(cells[4]),
      rssMb: parseSpread(cells[5]),
      peakMb: parseSpread(cells[6]),
    }),
  );
  const edsKey = (size: EdsSize) => `${size.endpoints}/${size.local}`;
  expectKeys("EDS", eds, edsKey, EDS_SIZES, edsKey);

  const recovery = lines.includes(HEADINGS.recovery) ? parseRecovery(lines) : undefined;
  const budget = lines.includes(HEADINGS.budget) ? parseBudget(lines) : undefined;

  return {
    ...(recovery === undefined ? {} : { recovery }),
    ...(budget === undefined ? {} : { budget }),
    machine: {
      cpus: Number(machine[1]),
      cpuModel: machine[2],
      kernel: machine[3],
      tmpFs: machine[4],
      loadAverage: Number(machine[5]),
      node: tools[1],
      jq: tools[2],
      nft: tools[3],
      go: tools[4],
    },
    run: { command: command[1], date: command[2], minutes: Number(command[3]), repetitions: Number(command[4]) },
    gateway,
    steering,
    eds,
  };
}

function parseRecovery(lines: readonly string[]): RecoveryResults {
  const at = lines.indexOf(HEADINGS.recovery);
  const first = match(lines[at + 2], RECOVERY_FIRST, "Recovery");
  if (lines[at + 1] !== "" || lines[at + 3] !== "") throw new Error(`the recovery section is not as rendered`);
  const rows = tableRows([HEADINGS.recovery, "", ...lines.slice(at + 4)], HEADINGS.recovery, RECOVERY_HEADER).map(
    (cells): RecoveryRow => {
      const change = RECOVERY_CHANGES.find((c) => c.label === cells[0]);
      if (change === undefined) throw new Error(`unknown recovery row: ${cells[0]}`);
      return {
        id: change.id,
        onNode: parseOptional(cells[1]),
        mapMs: parseOptional(cells[2]),
        lastDeviceMs: parseOptional(cells[3]),
        moved: parseCountCell(cells[4]),
        mapChanges: parseCountCell(cells[5]),
        lost: parseSpread(cells[6]),
        lostPercent: parseSpread(cells[7]),
        lossWindowMs: parseSpread(cells[8]),
      };
    },
  );
  expectKeys("recovery", rows, (row) => row.id, RECOVERY_CHANGES, (c) => c.id);
  return {
    node: first[1],
    devices: parseNumber(first[2]),
    rate: parseNumber(first[3]),
    intervalSeconds: Number(first[4]),
    accuracySeconds: Number(first[5]),
    agentMs: parseSpread(first[6]),
    rows,
  };
}

function parseBudget(lines: readonly string[]): BudgetResults {
  const at = lines.indexOf(HEADINGS.budget);
  const first = match(lines[at + 2], BUDGET_FIRST, "Session budget");
  if (lines[at + 1] !== "" || lines[at + 3] !== "") throw new Error(`the session budget section is not as rendered`);
  const rows = tableRows([HEADINGS.budget, "", ...lines.slice(at + 4)], HEADINGS.budget, BUDGET_HEADER).map((cells): BudgetPhaseRow => {
    const phase = BUDGET_PHASES.find((p) => p.label === cells[0]);
    if (phase === undefined) throw new Error(`unknown session budget row: ${cells[0]}`);
    const [held, sent, delivered, dropped, droppedHeld, overflow, sessions, active, remaining] = cells.slice(1).map(parseCountCell);
    return { id: phase.id, held, sent, delivered, dropped, droppedHeld, overflow, sessions, active, remaining };
  });
  expectKeys("session budget", rows, (row) => row.id, BUDGET_PHASES, (p) => p.id);
  const verdict = lines.slice(at).find((l) => /^(Shown|Not shown) in every repetition: /.test(l)) ?? "";
  const near = match(verdict, /sess_active` was (above|not above) IotIngressSessionsNearBudget's threshold of ([\d,.]+)\./, "Session budget verdict");
  return {
    stack: first[2],
    rendered: parseNumber(first[1]),
    newDevices: parseNumber(first[3]),
    nearBudget: parseNumber(near[2]),
    nearBudgetShown: near[1] === "above",
    rows,
  };
}
