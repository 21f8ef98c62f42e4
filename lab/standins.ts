import { DECODER_PORT, DEVICE_BASE, DEVICE_PORT, DEVICE_PORTS, type LabNode } from "./plan";
import { type ProcessRegistry } from "./processes";
import { LineProcess } from "../harness/processes";

export interface SendResult {
  sent: number;
  seconds: number;
  rate: number;
  errors: number;
  buckets?: Record<string, number>;
}

export interface DownlinkResult {
  devices: number;
  datagrams: number;
  wrongDst: number;
  sources: Record<string, number>;
  missingSample: number[];
}

export interface DecoderRound {
  datagrams: number;
  sourceOk: number;
  sourceBad: number;
  devicePort: number;
  devices: number;
  buckets: Record<string, number>;
  badSample: string[];
}

export interface EnvoyStats {
  received: number;
  forwarded: number;
  sendErrors: number;
  noUpstream: number;
  sessions: number;
  created: number;
  expired: number;
  endpoints: string[];
  setupError?: string;
}

/** The device fleet simulator (Go): N devices, each its own source address. */
export class DeviceFleet {
  private readonly proc: LineProcess;
  constructor(binary: string, registry: ProcessRegistry, ns: string, devices: number, ingress: string) {
    this.proc = new LineProcess(`devsim(${ns})`, ns, binary, ["devsim", "-base", DEVICE_BASE, "-devices", String(devices), "-port", String(DEVICE_PORT), "-ports", String(DEVICE_PORTS), "-dst", ingress], (p) => registry.add(p));
  }
  /** COUNT datagrams (default one per device), cycling over the devices, paced at rate per second. */
  send(round: number, rate: number, count?: number): Promise<SendResult> {
    return this.proc.call(`send ${round} ${Math.round(rate)}${count === undefined ? "" : ` ${count}`}`);
  }
  stream(round: number, rate: number, seconds: number): Promise<SendResult> {
    return this.proc.call(`stream ${round} ${Math.round(rate)} ${seconds}`);
  }
  /** Downlinks received since the last reset. */
  downlinks(): Promise<DownlinkResult> {
    return this.proc.call("downlinks");
  }
  resetDownlinks(): Promise<unknown> {
    return this.proc.call("reset-downlinks");
  }
  stop(): void {
    this.proc.stop();
  }
}

/** A decoder pod stand-in (Go): records each datagram's source, sends downlinks on request. */
export class Decoder {
  private readonly proc: LineProcess;
  constructor(binary: string, registry: ProcessRegistry, readonly ns: string, listenIp: string, devices: number) {
    this.proc = new LineProcess(`decoder(${ns})`, ns, binary, ["decoder", "-listen", `${listenIp}:${DECODER_PORT}`, "-base", DEVICE_BASE, "-devices", String(devices), "-device-port", String(DEVICE_PORT), "-device-ports", String(DEVICE_PORTS)], (p) => registry.add(p));
  }
  report(round: number): Promise<DecoderRound> {
    return this.proc.call(`report ${round}`);
  }
  writeDevices(round: number, file: string): Promise<{ written: number }> {
    return this.proc.call(`devices ${round} ${file}`);
  }
  /** Writes each device's first datagram of `round` to `file`: `device sent-ns received-ns` per line. */
  writeFirsts(round: number, file: string): Promise<unknown> {
    return this.proc.call(`firsts ${round} ${file}`);
  }
  /** To each device seen in `round`: at the device's own port, or (`observed`) at the source address seen. */
  downlink(round: number, rate: number, observed = false): Promise<{ sent: number; errors: number }> {
    return this.proc.call(`downlink ${round} ${Math.round(rate)}${observed ? " observed" : ""}`);
  }
  forget(round: number): Promise<unknown> {
    return this.proc.call(`forget ${round}`);
  }
  stop(): void {
    this.proc.stop();
  }
}

/**
 * ENVOY STAND-IN (Go), not Envoy: the udp_proxy data path with use_original_src_ip
 * (per-device session, an unbound IP_TRANSPARENT upstream socket, each datagram sent with
 * the device IP as source), upstreams read from the EDS file the sidecar logic renders.
 * One node runs `workers` processes sharing the listener with SO_REUSEPORT, as Envoy's
 * worker threads do; several processes because each session holds a socket and this
 * machine caps a process at its file-descriptor limit.
 */
export class EnvoyStandin {
  private readonly procs: LineProcess[];
  /** Where each worker serves `/stats/prometheus` (worker i at the stats port + i: one listener per process). */
  readonly statsAddresses: string[];
  constructor(
    binary: string,
    registry: ProcessRegistry,
    readonly node: LabNode,
    listenPort: number,
    edsFile: string,
    workers: number,
    idleTimeoutSeconds: number,
    /** Envoy's stats listener port and names (the bootstrap's metricsPort, stat_prefix, decoder cluster). */
    stats: { readonly port: number; readonly statPrefix: string; readonly clusterName: string },
  ) {
    this.statsAddresses = Array.from({ length: workers }, (_, i) => `${node.publicIp}:${stats.port + i}`);
    this.procs = this.statsAddresses.map(
      (statsAddress, i) =>
        new LineProcess(
          `envoy-standin(${node.name}#${i})`,
          node.ns,
          binary,
          ["envoy-standin", "-listen", `0.0.0.0:${listenPort}`, "-eds", edsFile, "-idle-timeout", `${idleTimeoutSeconds}s`, "-stats-listen", statsAddress, "-stat-prefix", stats.statPrefix, "-cluster-name", stats.clusterName],
          (p) => registry.add(p),
        ),
    );
  }
  async stats(): Promise<EnvoyStats> {
    const all = await Promise.all(this.procs.map((p) => p.call<EnvoyStats>("stats")));
    return all.reduce((a, b) => ({
      received: a.received + b.received,
      forwarded: a.forwarded + b.forwarded,
      sendErrors: a.sendErrors + b.sendErrors,
      noUpstream: a.noUpstream + b.noUpstream,
      sessions: a.sessions + b.sessions,
      created: a.created + b.created,
      expired: a.expired + b.expired,
      endpoints: a.endpoints,
      setupError: a.setupError ?? b.setupError,
    }));
  }
  async reloadEds(file: string): Promise<{ endpoints: string[] }> {
    const all = await Promise.all(this.procs.map((p) => p.call<{ endpoints: string[] }>(`eds ${file}`)));
    return all[0];
  }
  async closeSessions(): Promise<{ closed: number }> {
    const all = await Promise.all(this.procs.map((p) => p.call<{ closed: number }>("close-sessions")));
    return { closed: all.reduce((a, b) => a + b.closed, 0) };
  }
  stop(): void {
    for (const p of this.procs) p.stop();
  }
}
