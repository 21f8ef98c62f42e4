/**
 * l and m: the gateway pair (lab/pair.ts). l: the active gateway dies while devices stream; the standby takes the
 * Lease over, moves the flexible IP to itself and forwards; no device changes node, source or downlink source.
 * m: the dead gateway comes back while the other holds the Lease: it must stand by and never forward.
 */
import { sleep } from "../harness/commands";
import { type Lab } from "./lab";
import { settle } from "./measure";
import { type LabPair } from "./pair";
import { downlinks, placement, type ScenarioResult } from "./scenarios";

const BUCKET_MS = 100;

async function until(what: string, ready: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!ready()) {
    if (Date.now() - start > timeoutMs) throw new Error(`gateway pair: not ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - start;
}

/**
 * The stretch of a stream in which datagrams were lost: the end of the last send bucket before it that arrived whole
 * and the start of the first one after it that arrived whole, as unix milliseconds; undefined when nothing was lost.
 */
export function lossStretch(sent: ReadonlyMap<number, number>, received: ReadonlyMap<number, number>, bucketMs: number): { lastWholeEndMs: number; firstWholeStartMs: number } | undefined {
  const buckets = [...sent.keys()].sort((x, y) => x - y);
  const lossy = buckets.filter((b) => (received.get(b) ?? 0) < sent.get(b)!);
  if (lossy.length === 0) return undefined;
  const first = lossy[0];
  const last = lossy[lossy.length - 1];
  return { lastWholeEndMs: first * bucketMs, firstWholeStartMs: (last + 1) * bucketMs };
}

function countBy<T>(values: Iterable<T>): Map<T, number> {
  const out = new Map<T, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}

/** Datagrams lost in each second of a stream, from its first send bucket. */
function lossPerSecond(sent: ReadonlyMap<number, number>, received: ReadonlyMap<number, number>): number[] {
  const buckets = [...sent.keys()].sort((x, y) => x - y);
  const out: number[] = [];
  for (const bucket of buckets) {
    const second = Math.floor(((bucket - buckets[0]) * BUCKET_MS) / 1000);
    out[second] = (out[second] ?? 0) + sent.get(bucket)! - (received.get(bucket) ?? 0);
  }
  return Array.from(out, (n) => n ?? 0);
}

function sameMap<K, V>(x: ReadonlyMap<K, V>, y: ReadonlyMap<K, V>): { differing: number; missing: number } {
  let differing = 0;
  let missing = 0;
  for (const [k, v] of x) {
    if (!y.has(k)) missing++;
    else if (y.get(k) !== v) differing++;
  }
  return { differing, missing };
}

export async function pairFailover(lab: Lab, pair: LabPair, rate: number): Promise<ScenarioResult[]> {
  try {
    return await failoverAndReturn(lab, pair, rate);
  } finally {
    pair.stop();
  }
}

async function failoverAndReturn(lab: Lab, pair: LabPair, rate: number): Promise<ScenarioResult[]> {
  const N = lab.devices;
  const [a, b] = pair.members;
  pair.startAgent(a);
  await until("gw-a active", () => pair.state(a)?.role === "active" && pair.forwarding(a), 30_000);
  pair.startAgent(b);
  await until("gw-b standing by", () => pair.state(b)?.role === "standby", 30_000);

  // Connection tracking is not shared, and the standby steers each new flow by the same map (the DNAT is stateless per
  // bucket). A real device's next report, minutes later, is a new flow anyway (its unreplied UDP entry has timed
  // out); the lab's devices send every second, so the entries the active holds from the earlier scenarios (some
  // pinned to a node other than their map node since scenario c) are deleted first, standing in for those minutes,
  // as bench part 4 does.
  const pinned = pair.forgetFlows(a);
  // Through the active: where every device lands, and the downlinks' sources.
  const r0 = 40;
  await lab.fleet.send(r0, rate);
  const t0 = await settle(lab.decoders, r0, N);
  const before = await placement(lab, r0);
  const dl0 = await downlinks(lab, r0, rate);
  const perNode = (p: ReadonlyMap<number, string>) => [...countBy(p.values())].map(([node, n]) => `${node}=${n}`).join(" ");

  const r1 = 41;
  const streamRate = Math.min(rate, 2000);
  const streamSeconds = 40;
  const uplinkB = pair.uplinkReceived(b);
  const streaming = lab.fleet.stream(r1, streamRate, streamSeconds);
  await sleep(5000);
  const crashedAt = Date.now();
  pair.crash(a);
  const takeoverMs = await until("gw-b active after gw-a crashed", () => pair.state(b)?.role === "active", 60_000);
  await until("gw-b forwarding", () => pair.forwarding(b), 10_000);
  const s1 = await streaming;
  const t1 = await settle(lab.decoders, r1, s1.sent);
  const sent = new Map(Object.entries(s1.buckets ?? {}).map(([k, v]) => [Number(k), v]));
  const stretch = lossStretch(sent, t1.buckets, BUCKET_MS);
  const lost = s1.sent - t1.datagrams;
  const lostBeforeCrash = [...sent].filter(([bucket]) => (bucket + 1) * BUCKET_MS <= crashedAt).reduce((sum, [bucket, n]) => sum + n - (t1.buckets.get(bucket) ?? 0), 0);

  // Through the new active: the same node for every device, and the same downlink sources.
  const r2 = 42;
  await lab.fleet.send(r2, rate);
  const t2 = await settle(lab.decoders, r2, N);
  const after = await placement(lab, r2);
  const dl2 = await downlinks(lab, r2, rate);
  const moved = sameMap(before, after);
  const sources = (dl: typeof dl0) => new Map(Object.entries(dl.got.sources));
  const downlinkSources = sameMap(sources(dl0), sources(dl2));
  const api = await pair.apiState();
  const uplinkBGrew = pair.uplinkReceived(b) > uplinkB;

  const failover: ScenarioResult = {
    id: "l",
    title: "gateway pair: the active gateway dies while devices stream; the standby takes the Lease and the flexible IP over and forwards, no device changes node, source or downlink source",
    passed:
      t0.datagrams === N && before.size === N &&
      api.moves.length === 1 && api.moves[0].from === a.serverId && api.moves[0].to === b.serverId && api.holder === b.serverId &&
      pair.state(b)?.holder === b.name && stretch !== undefined && lostBeforeCrash === 0 &&
      t1.sourceBad === 0 && t2.datagrams === N && t2.sourceBad === 0 && after.size === N && moved.differing === 0 && moved.missing === 0 &&
      dl0.got.devices === N && dl2.got.devices === N && downlinkSources.differing === 0 && downlinkSources.missing === 0 && uplinkBGrew,
    numbers: [
      `stream ${s1.sent} datagrams at ${Math.round(s1.rate)}/s over ${streamSeconds} s; gw-a crashed ${Math.round((crashedAt - Number(Object.keys(s1.buckets ?? {})[0] ?? 0) * BUCKET_MS) / 1000)} s in`,
      `gw-b held the Lease ${takeoverMs} ms after the crash (leaseDurationSeconds 15, retryPeriodSeconds 2: client-go's defaults)`,
      stretch === undefined
        ? "nothing lost"
        : `last datagram through gw-a before ${stretch.lastWholeEndMs - crashedAt} ms, first whole bucket through gw-b from ${stretch.firstWholeStartMs - crashedAt} ms after the crash: failover ${stretch.firstWholeStartMs - stretch.lastWholeEndMs} ms`,
      `lost ${lost}/${s1.sent} (${((100 * lost) / Math.max(1, s1.sent)).toFixed(1)}%), ${lostBeforeCrash} of them before the crash; source rewritten: ${t1.sourceBad}`,
      `flexible IP moves through the Instance API stand-in: ${api.moves.map((m) => `${m.from === a.serverId ? "gw-a" : m.from || "none"} -> ${m.to === b.serverId ? "gw-b" : m.to || "none"}`).join(", ") || "none"} (${api.requests} requests, ${api.refused} refused)`,
      `device flows gw-a tracked from the earlier scenarios: ${pinned}, deleted first (a real device's next report is a new flow)`,
      `through gw-a before: delivered ${t0.datagrams}/${N}, per node ${perNode(before)}; through gw-b after: per node ${perNode(after)}`,
      `loss per second of the stream (from its start): ${lossPerSecond(sent, t1.buckets).join(" ")}`,
      `devices on the same node before and after: ${N - moved.differing - moved.missing}/${N} (moved ${moved.differing}, missing ${moved.missing}); after: delivered ${t2.datagrams}/${N}, source rewritten ${t2.sourceBad}`,
      `downlinks reached ${dl0.got.devices}/${N} before and ${dl2.got.devices}/${N} after, sources ${Object.entries(dl2.got.sources).map(([k, v]) => `${k}=${v}`).join(" ")} (changed ${downlinkSources.differing}, missing ${downlinkSources.missing})`,
    ],
  };

  // m: the crashed gateway reboots while gw-b holds the Lease.
  const r3 = 43;
  const watchSeconds = 35;
  const rebootedAt = Date.now();
  pair.reboot(a);
  const uplinkA = pair.uplinkReceived(a);
  // Until its first step, gw-a's state file is the one it crashed with (role active): what counts is what it does.
  const firstStepMs = await until("gw-a's first step after the reboot", () => (pair.stepAt(a) ?? 0) >= rebootedAt, 30_000);
  const streaming3 = lab.fleet.stream(r3, streamRate, watchSeconds);
  let aActive = 0;
  let aForwarding = 0;
  let bNotActive = 0;
  let samples = 0;
  const watchUntil = Date.now() + watchSeconds * 1000;
  while (Date.now() < watchUntil) {
    samples++;
    if (pair.state(a)?.role === "active") aActive++;
    if (pair.forwarding(a)) aForwarding++;
    if (pair.state(b)?.role !== "active") bNotActive++;
    await sleep(250);
  }
  const s3 = await streaming3;
  const t3 = await settle(lab.decoders, r3, s3.sent);
  const api3 = await pair.apiState();
  const aState = pair.state(a);
  const uplinkAGrew = pair.uplinkReceived(a) > uplinkA;
  const splitBrain: ScenarioResult = {
    id: "m",
    title: "gateway pair: the dead gateway comes back while the other holds the Lease; it stands by and never forwards (no split brain)",
    passed: samples > 0 && aActive === 0 && aForwarding === 0 && bNotActive === 0 && aState?.role === "standby" && aState.holder === b.name && api3.moves.length === 1 && !uplinkAGrew && t3.sourceBad === 0 && s3.sent - t3.datagrams === 0,
    numbers: [
      `gw-a's first leadership step came ${firstStepMs} ms after the reboot; its WireGuard was down before it (as at boot)`,
      `watched ${samples} times over ${watchSeconds} s: gw-a active ${aActive}, gw-a WireGuard up ${aForwarding}, gw-b not active ${bNotActive} (all must be 0)`,
      `gw-a's last step: role ${aState?.role}, Lease held by ${aState?.holder}; flexible IP moves since the failover: ${api3.moves.length - 1}; gw-a's uplink received ${uplinkAGrew ? "bytes (it must not)" : "nothing"}`,
      `stream through gw-b meanwhile: ${t3.datagrams}/${s3.sent} delivered, source rewritten ${t3.sourceBad}`,
    ],
  };
  return [failover, splitBrain];
}
