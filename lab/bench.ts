import { settle, settleCount } from "./measure";
import { type Decoder, type DeviceFleet } from "./standins";

export interface PathMeasure {
  readonly path: string;
  readonly devices: number;
  readonly sent: number;
  readonly received: number;
  readonly sourceOk: number;
  readonly downlinkDevices: number;
  readonly rate: number;
  readonly attempts: string[];
  readonly lossFree: boolean;
}

/**
 * Finds a loss-free uplink rate by stepping down: each attempt sends one datagram per device,
 * or more (cycling over the devices) to last at least `seconds`, at a target rate; after a
 * loss below 2% the next target is 85% of the last, after more it is below both 70% of the
 * last and 95% of the rate that was delivered; then at most two bisection steps between the
 * loss-free rate and the lowest lossy one. Bounded in attempts and time.
 */
export async function measurePath(
  path: string,
  fleet: DeviceFleet,
  decoders: ReadonlyMap<string, Decoder>,
  devices: number,
  opts: { startRate: number; seconds: number; firstRound: number; maxAttempts: number; deadline: number },
  log: (s: string) => void,
): Promise<PathMeasure> {
  const attempts: string[] = [];
  let round = opts.firstRound;
  const attempt = async (target: number) => {
    const r = round++;
    const s = await fleet.send(r, target, Math.max(devices, Math.round(target * opts.seconds)));
    const t = await settle(decoders, r, s.sent);
    const lost = s.sent - t.datagrams;
    attempts.push(`${Math.round(s.rate)}/s: lost ${lost}`);
    log(`${path}: target ${Math.round(target)}/s sent ${s.sent} at ${Math.round(s.rate)}/s, received ${t.datagrams}, lost ${lost}`);
    return { round: r, s, t, lost };
  };
  type Attempt = Awaited<ReturnType<typeof attempt>>;
  let best: Attempt | undefined; // highest loss-free
  let last: Attempt | undefined;
  let lossyRate: number | undefined; // lowest rate that lost
  let target = opts.startRate;
  const budgetLeft = (used: number) => used < opts.maxAttempts && Date.now() < opts.deadline;
  let used = 0;
  // Step down until nothing is lost.
  while (budgetLeft(used)) {
    const a = await attempt(target);
    used++;
    last = a;
    if (a.lost === 0) {
      best = a;
      break;
    }
    lossyRate = Math.min(lossyRate ?? Infinity, a.s.rate);
    for (const d of decoders.values()) await d.forget(a.round);
    const deliveredRate = (a.t.datagrams / a.s.sent) * a.s.rate;
    target = a.lost / a.s.sent < 0.02 ? target * 0.85 : Math.max(100, Math.min(target * 0.7, deliveredRate * 0.95));
  }
  // Then narrow the gap to the lowest lossy rate: at most two bisection steps.
  for (let i = 0; i < 2 && best !== undefined && lossyRate !== undefined && lossyRate > best.s.rate * 1.1 && budgetLeft(used); i++) {
    const a = await attempt((best.s.rate + lossyRate) / 2);
    used++;
    if (a.lost === 0) {
      for (const d of decoders.values()) await d.forget(best.round);
      best = a;
    } else {
      lossyRate = a.s.rate;
      for (const d of decoders.values()) await d.forget(a.round);
    }
  }
  const chosen = best ?? last!;
  await fleet.resetDownlinks();
  // All decoders at once, each at its share of the rate.
  const dlSent = (await Promise.all([...decoders.values()].map((d) => d.downlink(chosen.round, chosen.s.rate / decoders.size)))).reduce((a, r) => a + r.sent, 0);
  const dl = await settleCount(async () => (await fleet.downlinks()).devices, dlSent);
  for (const d of decoders.values()) await d.forget(chosen.round);
  return {
    path,
    devices,
    sent: chosen.s.sent,
    received: chosen.t.datagrams,
    sourceOk: chosen.t.sourceOk,
    downlinkDevices: dl,
    rate: chosen.s.rate,
    attempts,
    lossFree: chosen.lost === 0,
  };
}

export function benchTable(rows: readonly PathMeasure[]): string {
  const header = ["path", "devices", "sent", "received", "loss", "source preserved", "downlink delivered", "uplink dgram/s"];
  const body = rows.map((r) => [
    r.path,
    String(r.devices),
    String(r.sent),
    String(r.received),
    `${(((r.sent - r.received) / r.sent) * 100).toFixed(3)}%`,
    `${((r.sourceOk / Math.max(1, r.received)) * 100).toFixed(2)}%`,
    `${((r.downlinkDevices / r.devices) * 100).toFixed(2)}%`,
    r.lossFree ? String(Math.round(r.rate)) : `${Math.round(r.rate)} (not loss-free)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join("\n");
}
