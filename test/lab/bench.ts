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
 * last and 95% of the rate that was delivered. Bounded in attempts and time.
 */
export async function measurePath(
  path: string,
  fleet: DeviceFleet,
  decoders: ReadonlyMap<string, Decoder>,
  devices: number,
  opts: { startRate: number; seconds: number; firstRound: number; maxAttempts: number; deadline: number },
  log: (s: string) => void,
): Promise<PathMeasure> {
  let target = opts.startRate;
  const attempts: string[] = [];
  for (let i = 0; i < opts.maxAttempts; i++) {
    const round = opts.firstRound + i;
    const s = await fleet.send(round, target, Math.max(devices, Math.round(target * opts.seconds)));
    const t = await settle(decoders, round, s.sent);
    const lost = s.sent - t.datagrams;
    attempts.push(`${Math.round(s.rate)}/s: lost ${lost}`);
    log(`${path}: target ${Math.round(target)}/s sent ${s.sent} at ${Math.round(s.rate)}/s, received ${t.datagrams}, lost ${lost}`);
    const last = i === opts.maxAttempts - 1 || Date.now() > opts.deadline;
    if (lost === 0 || last) {
      await fleet.resetDownlinks();
      let dlSent = 0;
      for (const d of decoders.values()) dlSent += (await d.downlink(round, s.rate / decoders.size)).sent;
      const dl = await settleCount(async () => (await fleet.downlinks()).devices, dlSent);
      for (const d of decoders.values()) await d.forget(round);
      return { path, devices, sent: s.sent, received: t.datagrams, sourceOk: t.sourceOk, downlinkDevices: dl, rate: s.rate, attempts, lossFree: lost === 0 };
    }
    for (const d of decoders.values()) await d.forget(round);
    const deliveredRate = (t.datagrams / s.sent) * s.rate;
    target = lost / s.sent < 0.02 ? target * 0.85 : Math.max(100, Math.min(target * 0.7, deliveredRate * 0.95));
  }
  throw new Error("unreachable");
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
