/**
 * Part 4: recovery. The lab's data path (lab/lab.ts: fleet, concentrator, gateway from its artifacts, Kilo mesh of
 * wireguard-go nodes, Envoy and decoder stand-ins, the local API server) with the real steering agent run on the
 * gateway the way its systemd units run it: the rendered timer's OnUnitActiveSec and AccuracySec, the rendered
 * service's ExecStart, in the gateway's namespace, by a loop of its own (no systemd in a namespace). While devices
 * stream, an ingress node leaves (its decoder or its Envoy stops being ready) or Kilo renumbers the mesh (scenario
 * h's mechanism), and nothing else calls the agent.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_GATEWAY_PATHS, steeringAgentServiceUnit, steeringAgentTimerUnit } from "../infra/gateway";
import { withNode, type ApiState, type KiloAnnotations } from "../lab/api-state";
import { LabCluster } from "../lab/cluster-api";
import { buildStandins } from "../lab/gobuild";
import { buildLab, renumberKiloMembers, ENVOY_STATS, ephemeralPorts, LAB_CLUSTER_DIR, sessionsPerWorker, SESSION_IDLE_TIMEOUT_SECONDS, type Lab } from "../lab/lab";
import { settle } from "../lab/measure";
import { JOINING_NODE, NS } from "../lab/plan";
import { cleanAll, ProcessRegistry, STATE_DIR, takeRunLock } from "../lab/processes";
import { EnvoyStandin } from "../lab/standins";
import { newKeys, type KiloMember } from "../lab/topology";
import type { Cleanup } from "../harness/cleanup";
import { sleep } from "../harness/commands";
import { nsExec } from "../harness/netns";
import { decoderUnready, lossWindowMs, parseTimerLog, recoveryOf, seconds, unitDirective, withoutEnvoyPod, type AgentRun } from "./recovery-logic";
import { RECOVERY_CHANGES, RECOVERY_DEVICES, RECOVERY_RATE, spread, type RecoveryChange, type RecoveryResults, type RecoveryRow } from "./tables";

const BUCKET_MS = 100;

// The timer loop: what systemd does with OnUnitActiveSec for a oneshot service: the next run is due that long after the
// last one started (the unit's inactive-exit time), placed at a fixed per-host offset within AccuracySec, and never
// while a run is still going. It ends when the bench process does.
const TIMER_LOOP = `#!/bin/bash
interval=$1 offset=$2 log=$3
shift 3
parent=$PPID
while kill -0 "$parent" 2>/dev/null; do
  start=$EPOCHREALTIME
  out=$("$@" 2>&1)
  status=$?
  end=$EPOCHREALTIME
  printf 'run %s %s %s %s\\n' "$start" "$end" "$status" "$(printf %s "$out" | tr '\\n' '|')" >>"$log"
  wait=$(awk -v s="$start" -v i="$interval" -v o="$offset" -v n="$EPOCHREALTIME" 'BEGIN { w = s + i + o - n; if (w < 0) w = 0; printf "%.3f", w }')
  sleep "$wait"
done
`;

export interface RecoveryBenchOptions {
  readonly repetitions: number;
  readonly log: (line: string) => void;
  /** Runs at clean-up (exit, failure, signal): the lab's own clean-up. */
  readonly onCleanup: (fn: () => void) => void;
}

async function takeLockWaiting(log: (line: string) => void): Promise<() => void> {
  for (let waited = 0; ; waited += 30) {
    try {
      return takeRunLock();
    } catch (error) {
      if (waited === 0) log(`recovery: ${(error as Error).message}; waiting for it`);
      if (waited > 3600) throw error;
      await sleep(30_000);
    }
  }
}

// The lab's Decoder answers only the commands the scenarios need; `firsts` (first arrival of each device on a node) is
// the stand-in's, reached through the same line process.
function annotations(lab: Lab): Map<string, KiloAnnotations> {
  return new Map(lab.members.map((m) => [m.node.name, { key: m.keys.publicKey, kiloIp: m.node.kiloIp }]));
}

export async function recoveryBench(cleanup: Cleanup, options: RecoveryBenchOptions): Promise<RecoveryResults> {
  const { log } = options;
  const releaseLock = await takeLockWaiting(log);
  const registry = new ProcessRegistry();
  let cleaned = false;
  const labCleanup = () => {
    if (cleaned) return;
    cleaned = true;
    LabCluster.stop(LAB_CLUSTER_DIR);
    cleanAll(registry);
    releaseLock();
  };
  options.onCleanup(labCleanup);
  try {
    LabCluster.stop(LAB_CLUSTER_DIR);
    cleanAll(registry);
    const binary = buildStandins();
    const lab = await buildLab(registry, binary, RECOVERY_DEVICES, log);
    const plan = lab.gateway.options;
    const timerUnit = steeringAgentTimerUnit(plan);
    const interval = seconds(unitDirective(timerUnit, "Timer", "OnUnitActiveSec"));
    const accuracy = seconds(unitDirective(timerUnit, "Timer", "AccuracySec"));
    const agentScript = join(STATE_DIR, "gateway", "iot-steering-agent");
    const execStart = unitDirective(steeringAgentServiceUnit({ ...DEFAULT_GATEWAY_PATHS, steeringAgentScript: agentScript }), "Service", "ExecStart").split(" ");
    // systemd places a timer's expiry at a host-specific offset within AccuracySec: one offset for this "host".
    const offset = Math.random() * accuracy;
    const work = cleanup.tempDir("recovery");
    const loop = join(work, "timer.sh");
    const timerLog = join(work, "timer.log");
    writeFileSync(loop, TIMER_LOOP);
    writeFileSync(timerLog, "");
    const timer = spawn("ip", ["netns", "exec", NS.gateway, "bash", loop, String(interval), offset.toFixed(3), timerLog, ...execStart], { stdio: "ignore", detached: true });
    // Its whole process group (the loop, a running agent, its kubectl and jq) goes at clean-up.
    if (timer.pid !== undefined) cleanup.trackPid(-timer.pid);
    const stopTimer = () => {
      try {
        if (timer.pid !== undefined) process.kill(-timer.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    options.onCleanup(stopTimer);
    log(`recovery: steering agent on its timer: every ${interval} s after the last run started, offset ${offset.toFixed(3)} s within AccuracySec ${accuracy} s`);
    const runs = (): AgentRun[] => parseTimerLog(readFileSync(timerLog, "utf8"));
    const node = lab.ingressNodes[1];
    const workers = Math.max(1, Math.ceil(Math.min(RECOVERY_DEVICES, ephemeralPorts(node.ns)) / sessionsPerWorker()));
    const targetsFile = join(STATE_DIR, "gateway", "state", "decision.json");
    const targets = () => (JSON.parse(readFileSync(targetsFile, "utf8")) as { targets: Array<{ name: string }> }).targets.map((t) => t.name).sort();

    /** Waits for a whole agent run that started after now, then for the map to hold `expected`. */
    const settledOn = async (expected: readonly string[]) => {
      const since = Date.now() / 1000;
      const deadline = Date.now() + (interval + accuracy) * 4000 + 60_000;
      while (!(runs().some((r) => r.start > since) && targets().join(" ") === [...expected].sort().join(" "))) {
        if (Date.now() > deadline) throw new Error(`recovery: the agent's map is ${targets().join(" ")}, not ${expected.join(" ")}`);
        await sleep(250);
      }
    };
    const forgetFlows = () => {
      // Between repetitions only, in place of the minutes between two reports of a device, after which each report is
      // a new flow: without it, flows moved by the last change would stay where they were until they time out.
      try {
        nsExec(NS.gateway, "conntrack", ["-D", "-p", "udp", "--orig-dst", lab.gateway.ingressAddress]);
      } catch {
        /* no flow matched */
      }
    };
    const allNodes = lab.ingressNodes.map((n) => n.name);
    await settledOn(allNodes);

    const samples = new Map<RecoveryChange, Sample[]>(RECOVERY_CHANGES.map((c) => [c.id, []]));
    let round = 300;
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (const change of RECOVERY_CHANGES) {
        forgetFlows();
        await sleep(1500);
        const r = round++;
        const streamSeconds = change.id.startsWith("kilo") ? 3 + interval + accuracy + 8 : 3 + 2 * (interval + accuracy) + 8;
        const streaming = lab.fleet.stream(r, RECOVERY_RATE, streamSeconds);
        // The change comes at a random point of the timer's cycle, as a real failure does.
        await sleep(3000 + Math.random() * interval * 1000);
        const t0 = Date.now();
        if (change.id === "decoder") {
          await lab.envoys.get(node.name)!.reloadEds(lab.edsFile("no-node", "empty.json"));
          await lab.cluster.hold(decoderUnready(lab.api, node.name), annotations(lab));
        } else if (change.id === "envoy") {
          lab.envoys.get(node.name)!.stop();
          await lab.cluster.hold(withoutEnvoyPod(lab.api, node.name), annotations(lab));
        } else {
          renumber(lab, change.id === "kilo-join" ? "join" : "leave");
          await lab.cluster.hold(change.id === "kilo-join" ? withNode(lab.api, JOINING_NODE) : lab.api, annotations(lab));
          await sleep(1000); // kgctl connect resyncs later than the nodes' kg agents
          lab.gateway.kgctlSync();
        }
        const s = await streaming;
        const t = await settle(lab.decoders, r, s.sent);
        const arrivals = new Map<string, Map<number, number>>();
        for (const [name, d] of lab.decoders) {
          const file = join(work, `firsts-${r}-${name}.txt`);
          await d.writeFirsts(r, file);
          arrivals.set(name, new Map(readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => {
            const [device, , received] = line.split(" ").map(Number);
            return [device, received / 1e6] as [number, number];
          })));
        }
        const sent = new Map(Object.entries(s.buckets ?? {}).map(([k, v]) => [Number(k), v]));
        const result = recoveryOf({ left: change.id === "decoder" || change.id === "envoy" ? node.name : undefined, t0Ms: t0, arrivals, runs: runs() });
        const lostBefore = [...sent].filter(([b]) => (b + 1) * BUCKET_MS <= t0 - 300).reduce((a, [b, n]) => a + n - (t.buckets.get(b) ?? 0), 0);
        if (lostBefore > 0) log(`recovery: ${lostBefore} datagrams lost before the change (noise of the shared machine)`);
        samples.get(change.id)!.push({ ...result, sent: s.sent, lost: s.sent - t.datagrams, lossWindowMs: lossWindowMs(sent, t.buckets, BUCKET_MS) });
        log(`recovery #${rep + 1} ${change.id}: map ${result.mapMs ?? "unchanged"} ms, last device ${result.lastDeviceMs ?? "-"} ms, on the node ${result.onNode}, moved ${result.moved}, lost ${s.sent - t.datagrams}/${s.sent}, window ${lossWindowMs(sent, t.buckets, BUCKET_MS)} ms`);
        for (const d of lab.decoders.values()) await d.forget(r);
        // Back to the starting state, through the agent on its timer.
        if (change.id === "decoder") {
          await lab.envoys.get(node.name)!.reloadEds(lab.edsFile(node.name, `${node.name}.json`));
        } else if (change.id === "envoy") {
          lab.envoys.set(node.name, new EnvoyStandin(binary, registry, node, lab.gateway.ingressPort, lab.edsFile(node.name, `${node.name}.json`), workers, SESSION_IDLE_TIMEOUT_SECONDS, ENVOY_STATS));
          await lab.envoys.get(node.name)!.stats();
        }
        if (change.id !== "kilo-join") await lab.cluster.hold(lab.api, annotations(lab));
        await settledOn(allNodes);
      }
    }
    const agentMs = runs().map((r) => (r.end - r.start) * 1000);
    const rows = RECOVERY_CHANGES.map((change): RecoveryRow => {
      const list = samples.get(change.id)!;
      const optional = (values: Array<number | undefined>) => (values.every((v) => v !== undefined) ? spread(values as number[]) : undefined);
      return {
        id: change.id,
        onNode: optional(list.map((x) => (x.onNode === 0 ? undefined : x.onNode))),
        mapMs: optional(list.map((x) => x.mapMs)),
        lastDeviceMs: optional(list.map((x) => x.lastDeviceMs)),
        moved: spread(list.map((x) => x.moved)),
        lost: spread(list.map((x) => x.lost)),
        lostPercent: spread(list.map((x) => (100 * x.lost) / x.sent)),
        lossWindowMs: spread(list.map((x) => x.lossWindowMs)),
        mapChanges: spread(list.map((x) => x.mapChanges)),
      };
    });
    stopTimer();
    return { node: node.name, intervalSeconds: interval, accuracySeconds: accuracy, agentMs: spread(agentMs), devices: RECOVERY_DEVICES, rate: RECOVERY_RATE, rows };
  } finally {
    labCleanup();
  }
}

interface Sample {
  onNode: number;
  mapMs: number | undefined;
  lastDeviceMs: number | undefined;
  moved: number;
  mapChanges: number;
  sent: number;
  lost: number;
  lossWindowMs: number;
}

/**
 * Scenario h's mechanism (lab/scenarios.ts kiloRenumbering): a node whose name sorts first joins or leaves, Kilo
 * renumbers every member's WireGuard IP, the lab plays kg on each node (new address and peers).
 */
function renumber(lab: Lab, how: "join" | "leave"): void {
  if (how === "join") lab.members.push({ node: { ...JOINING_NODE, kiloIp: "" }, keys: newKeys() } satisfies KiloMember);
  else lab.members.splice(lab.members.findIndex((m) => m.node.name === JOINING_NODE.name), 1);
  renumberKiloMembers(lab);
}

export type { ApiState };
