/**
 * The pure part of the recovery bench (part 4): the API states of a node leaving, the timer loop's log, and what a
 * stream tells of one change. Kept apart from bench/recovery.ts, which runs the lab, so the unit tier checks it.
 */
import type { SystemdUnitFile } from "../infra/gateway";
import type { ApiState } from "../lab/api-state";

/** One run of the steering agent by the timer loop: Unix seconds, exit status, its output (stdout and stderr). */
export interface AgentRun {
  readonly start: number;
  readonly end: number;
  readonly status: number;
  readonly output: string;
}

/** The state with `nodeName`'s decoder endpoints not ready (the pod failing its readiness probe). */
export function decoderUnready(state: ApiState, nodeName: string): ApiState {
  return {
    ...state,
    decoderSlices: {
      ...state.decoderSlices,
      items: state.decoderSlices.items.map((slice) => ({
        ...slice,
        endpoints: (slice.endpoints ?? []).map((e) => (e.nodeName === nodeName ? { ...e, conditions: { ...(e.conditions ?? {}), ready: false } } : e)),
      })),
    },
  };
}

/** The state without `nodeName`'s Envoy pod (it stopped; its DaemonSet has not replaced it yet). */
export function withoutEnvoyPod(state: ApiState, nodeName: string): ApiState {
  return { ...state, envoyPods: { ...state.envoyPods, items: state.envoyPods.items.filter((p) => p.spec.nodeName !== nodeName) } };
}

/** The timer loop's log: `run <start> <end> <status> <output, lines joined by |>` per line. */
export function parseTimerLog(text: string): AgentRun[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const match = /^run (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+) ?(.*)$/.exec(line);
      if (match === null) throw new Error(`not a timer log line: ${line}`);
      return { start: Number(match[1]), end: Number(match[2]), status: Number(match[3]), output: match[4].split("|").join("\n") };
    });
}

const APPLIED = "applied steering to:";

/** The longest run of consecutive send buckets that lost anything, in ms. */
export function lossWindowMs(sent: ReadonlyMap<number, number>, received: ReadonlyMap<number, number>, bucketMs: number): number {
  let run = 0;
  let longest = 0;
  let previous: number | undefined;
  for (const bucket of [...sent.keys()].sort((a, b) => a - b)) {
    const lost = sent.get(bucket)! - (received.get(bucket) ?? 0) > 0;
    run = lost ? (previous !== undefined && bucket === previous + 1 ? run : 0) + 1 : 0;
    longest = Math.max(longest, run);
    previous = bucket;
  }
  return longest * bucketMs;
}

export interface RecoveryInput {
  /** The node that left; undefined for a renumbering, where no node leaves. */
  readonly left: string | undefined;
  /** When the change was made, Unix ms. */
  readonly t0Ms: number;
  /** Per decoder (node name): each device's first arrival there in the stream, Unix ms. */
  readonly arrivals: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly runs: readonly AgentRun[];
}

export interface Recovery {
  /** Devices that arrived on the leaving node in the stream (before it left); 0 for a renumbering. */
  readonly onNode: number;
  /** From the change to the end of the agent run that applied a map without the node; undefined when none did. */
  readonly mapMs: number | undefined;
  /** From the change to the first arrival elsewhere of the last of the node's devices to move. */
  readonly lastDeviceMs: number | undefined;
  /** Leaving: the node's devices seen on another node. Renumbering: devices seen on more than one node. */
  readonly moved: number;
  /** Agent runs that ended after the change and rewrote the map. */
  readonly mapChanges: number;
}

export function recoveryOf(input: RecoveryInput): Recovery {
  const after = input.runs.filter((r) => r.end * 1000 > input.t0Ms && r.output.includes(APPLIED));
  const mapChanges = after.length;
  if (input.left === undefined) {
    const nodesOf = new Map<number, number>();
    for (const devices of input.arrivals.values()) for (const device of devices.keys()) nodesOf.set(device, (nodesOf.get(device) ?? 0) + 1);
    return { onNode: 0, mapMs: undefined, lastDeviceMs: undefined, moved: [...nodesOf.values()].filter((n) => n > 1).length, mapChanges };
  }
  const left = input.left;
  const onNode = [...(input.arrivals.get(left)?.keys() ?? [])];
  const elsewhere = (device: number): number | undefined => {
    const times = [...input.arrivals].filter(([node]) => node !== left).map(([, devices]) => devices.get(device)).filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  };
  const moved = onNode.map(elsewhere).filter((t): t is number => t !== undefined);
  const applied = after.find((r) => {
    const line = r.output.split("\n").find((l) => l.includes(APPLIED)) ?? "";
    return !line.split(/\s+/).some((word) => word.startsWith(`${left}=`));
  });
  return {
    onNode: onNode.length,
    mapMs: applied === undefined ? undefined : applied.end * 1000 - input.t0Ms,
    lastDeviceMs: moved.length === 0 ? undefined : Math.max(...moved) - input.t0Ms,
    moved: moved.length,
    mapChanges,
  };
}

/** A directive of a rendered unit, e.g. the timer's OnUnitActiveSec. */
export function unitDirective(unit: SystemdUnitFile, section: string, key: string): string {
  const value = unit.sections.find(([name]) => name === section)?.[1].find(([k]) => k === key)?.[1];
  if (value === undefined) throw new Error(`${unit.name} has no ${section}.${key}`);
  return value;
}

/** A systemd time span of whole seconds ("5s"); the rendered units write no other form. */
export function seconds(span: string): number {
  const match = /^(\d+)s$/.exec(span);
  if (match === null) throw new Error(`not a time span in seconds: ${span}`);
  return Number(match[1]);
}

