/**
 * Session budget of one Envoy ingress pod.
 *
 * udp_proxy opens one upstream socket (one fd, one local port) per session, and a session lives
 * until it has been idle for `idle_timeout`. A device reporting every `reportInterval` seconds
 * therefore holds a session for min(1, idleTimeout / reportInterval) of the time. The gateway
 * spreads devices evenly over the ingress nodes by hash, so one node carries its share of them.
 */

import { PlanError, Problems } from "../problems";

/** Multiplier over the expected sessions per node: covers uneven hashing, bursts and a node being drained. */
export const DEFAULT_SESSION_HEADROOM = 1.5;

/**
 * File descriptors Envoy needs besides session sockets: per-worker listener sockets and event
 * loops, the admin listener and its connections, inotify watches, stdio and logs. A few dozen in
 * practice; 1024 leaves room without mattering next to hundreds of thousands of sessions.
 */
export const DEFAULT_BASE_FILE_DESCRIPTORS = 1024;

/**
 * Ephemeral ports of a Linux network namespace by default (`net.ipv4.ip_local_port_range` 32768-60999).
 * With use_original_src_ip every session's upstream socket is unbound and takes an ephemeral port on its first
 * send, so a node cannot hold more sessions than this; past it, new sessions fail to send (seen in the lab).
 */
export const DEFAULT_EPHEMERAL_PORTS = 28_232;

/** What a sizing PlanError is about. */
const SUBJECT = "Envoy session sizing";

/** Largest value an Envoy UInt32Value (max_connections) can carry. */
const UINT32_MAX = 4_294_967_295;

export interface SessionSizingInput {
  /** Devices sending to the ingress address in total. */
  devices: number;
  /** udp_proxy idle_timeout in seconds. */
  idleTimeoutSeconds: number;
  /** Longest interval between two datagrams of one device, in seconds. */
  reportIntervalSeconds: number;
  /** Ingress nodes the gateway spreads devices over. */
  ingressNodes: number;
  /** Defaults to DEFAULT_SESSION_HEADROOM; at least 1. */
  headroom?: number;
  /** Defaults to DEFAULT_BASE_FILE_DESCRIPTORS. */
  baseFileDescriptors?: number;
  /** Ephemeral ports on an ingress node; defaults to DEFAULT_EPHEMERAL_PORTS. */
  ephemeralPorts?: number;
}

export interface SessionSizing {
  /** Expected concurrent sessions on one node. */
  sessionsPerNode: number;
  /** Cluster circuit breaker max_connections: sessionsPerNode × headroom, rounded up. */
  maxConnections: number;
  /** Hard RLIMIT_NOFILE the Envoy container needs: maxConnections + base descriptors. */
  fileDescriptorLimit: number;
}

function positiveInteger(problems: Problems, path: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value > 0)) problems.add(path, `must be a positive integer, got ${String(value)}`);
}

function sizingProblems(input: SessionSizingInput, headroom: number, base: number): Problems {
  const problems = new Problems();
  positiveInteger(problems, "devices", input.devices);
  positiveInteger(problems, "idleTimeoutSeconds", input.idleTimeoutSeconds);
  positiveInteger(problems, "reportIntervalSeconds", input.reportIntervalSeconds);
  positiveInteger(problems, "ingressNodes", input.ingressNodes);
  if (!Number.isFinite(headroom) || headroom < 1) problems.add("headroom", `must be a finite number >= 1, got ${String(headroom)}`);
  if (!Number.isSafeInteger(base) || base < 0) problems.add("baseFileDescriptors", `must be a non-negative integer, got ${String(base)}`);
  return problems;
}

function ceilDiv(numerator: number, denominator: number): number {
  if (!Number.isSafeInteger(numerator) || !Number.isSafeInteger(denominator)) {
    throw new PlanError(SUBJECT, [{ path: "devices", message: `sizing product ${numerator}/${denominator} is too large to compute exactly` }]);
  }
  return Math.floor((numerator + denominator - 1) / denominator);
}

/** 1000 × 1.1 is 1100.0000000000002 in binary floating point; that must still give 1100. */
function ceilIgnoringRoundingNoise(value: number): number {
  // 15 significant digits are exact in a double; the noise lives in the 16th and 17th.
  return Math.ceil(Number(value.toPrecision(15)));
}

/**
 * The session budget of one node for a fleet. Throws a PlanError whose problems are at the keys of
 * SessionSizingInput; a budget that does not fit a node is reported at `ingressNodes`, the figure that fixes it.
 */
export function sizeEnvoySessions(input: SessionSizingInput): SessionSizing {
  const headroom = input.headroom ?? DEFAULT_SESSION_HEADROOM;
  const base = input.baseFileDescriptors ?? DEFAULT_BASE_FILE_DESCRIPTORS;
  sizingProblems(input, headroom, base).throwIfAny(SUBJECT);

  // Integer arithmetic keeps e.g. 250000 × 60/300 from landing a hair above 50000.
  const activeSeconds = Math.min(input.idleTimeoutSeconds, input.reportIntervalSeconds);
  const sessionsPerNode = ceilDiv(input.devices * activeSeconds, input.reportIntervalSeconds * input.ingressNodes);
  const maxConnections = ceilIgnoringRoundingNoise(sessionsPerNode * headroom);
  if (maxConnections > UINT32_MAX) {
    throw new PlanError(SUBJECT, [{ path: "ingressNodes", message: `max_connections ${maxConnections} exceeds the UInt32 limit ${UINT32_MAX}` }]);
  }
  const ephemeralPorts = input.ephemeralPorts ?? DEFAULT_EPHEMERAL_PORTS;
  if (maxConnections > ephemeralPorts) {
    throw new PlanError(SUBJECT, [
      {
        path: "ingressNodes",
        message:
          `${maxConnections} sessions per node (with headroom) exceed the ${ephemeralPorts} ephemeral ports a node has for ` +
          "Envoy's upstream sockets: add ingress nodes or shorten the idle timeout",
      },
    ]);
  }
  return { sessionsPerNode, maxConnections, fileDescriptorLimit: maxConnections + base };
}
