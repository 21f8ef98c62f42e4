import { sleep } from "../harness/commands";
import { type Decoder, type DecoderRound } from "./standins";

export interface RoundTotals {
  datagrams: number;
  sourceOk: number;
  sourceBad: number;
  devicePort: number;
  devices: number;
  buckets: Map<number, number>;
  perDecoder: Map<string, DecoderRound>;
  badSample: string[];
}

export async function roundTotals(decoders: ReadonlyMap<string, Decoder>, round: number): Promise<RoundTotals> {
  const t: RoundTotals = { datagrams: 0, sourceOk: 0, sourceBad: 0, devicePort: 0, devices: 0, buckets: new Map(), perDecoder: new Map(), badSample: [] };
  for (const [name, d] of decoders) {
    const r = await d.report(round);
    t.perDecoder.set(name, r);
    t.datagrams += r.datagrams;
    t.sourceOk += r.sourceOk;
    t.sourceBad += r.sourceBad;
    t.devicePort += r.devicePort;
    t.devices += r.devices;
    t.badSample.push(...r.badSample);
    for (const [b, c] of Object.entries(r.buckets)) t.buckets.set(Number(b), (t.buckets.get(Number(b)) ?? 0) + c);
  }
  return t;
}

/** Waits until the decoders have all `expected` datagrams of a round, or their count stops growing. */
export async function settle(decoders: ReadonlyMap<string, Decoder>, round: number, expected: number, quietMs = 1500, maxMs = 30_000): Promise<RoundTotals> {
  const start = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const t = await roundTotals(decoders, round);
    if (t.datagrams >= expected) return t;
    if (t.datagrams !== last) {
      last = t.datagrams;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= quietMs || Date.now() - start > maxMs) {
      return t;
    }
    await sleep(250);
  }
}

/** Waits for the fleet's downlink count to stop growing; `poll` reads it without resetting. */
export async function settleCount(poll: () => Promise<number>, expected: number, quietMs = 1500, maxMs = 30_000): Promise<number> {
  const start = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const n = await poll();
    if (n >= expected) return n;
    if (n !== last) {
      last = n;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= quietMs || Date.now() - start > maxMs) {
      return n;
    }
    await sleep(250);
  }
}
