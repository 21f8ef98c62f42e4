/*
 * The Envoy ingress as a plan: what a user chooses (EnvoyPlanInput), every default of it (ENVOY_DEFAULTS, written
 * nowhere else), and the one resolver that applies them and every check, including the rules between keys. The
 * bootstrap renders from the resolved plan; EnvoyUdpIngress resolves its args with it, and the stack's config check
 * runs it on the config's values and reports its problems at the config keys (stacks/config-network-checks.ts).
 */
import { checkDeviceSubnets } from "../network";
import { PlanError, Problems, withPaths } from "../problems";
import { sizeEnvoySessions, type SessionSizing } from "./sizing";

/** How Prometheus is told about Envoy's stats listener. */
export const METRICS_SCRAPE_MODES = ["annotations", "podMonitor"] as const;
export type MetricsScrapeMode = (typeof METRICS_SCRAPE_MODES)[number];

/**
 * Every Envoy default, and the only place each is written: the resolver, EnvoyUdpIngress (for `resources`, a resource
 * arg outside the plan) and the stack's config schema (`ingress.*`) import them.
 */
export const ENVOY_DEFAULTS = {
  /** CoAP's port, which the devices' protocol uses. */
  listenerPort: 5683,
  idleTimeoutSeconds: 60,
  /** Envoy's own default for max_rx_datagram_size (api/envoy/config/core/v3/udp_socket_config.proto). */
  maxDatagramBytes: 1500,
  concurrency: 2,
  adminPort: 9901,
  /** Next to the admin's 9901, as Contour and Istio place their stats listeners. */
  metricsPort: 9902,
  metrics: { scrape: "annotations" },
  resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { memory: "1Gi" } },
} as const;

/** The fleet figures that size a node's session budget (infra/envoy/sizing.ts). */
export interface EnvoySessionsInput {
  /** Devices sending to the ingress address in total. Required, a positive integer. */
  devices: number;
  /** Longest interval between two datagrams of one device, seconds. Required, a positive integer. */
  reportIntervalSeconds: number;
  /** Ingress nodes the gateway spreads the devices over, one Envoy each. Required, a positive integer. */
  ingressNodes: number;
}

export interface EnvoyMetricsInput {
  /**
   * `annotations` (default): `prometheus.io/scrape`, `/port`, `/path` on the pod template, for a Prometheus with the
   * usual kubernetes-pods scrape job. `podMonitor`: a `monitoring.coreos.com/v1` PodMonitor next to the DaemonSet, for
   * the Prometheus Operator (its CRDs must exist, or the deployment fails on that resource).
   */
  scrape?: MetricsScrapeMode;
}

/** What a user chooses about the Envoy ingress; no Pulumi types, so the stack can resolve it from config too. */
export interface EnvoyPlanInput {
  /** UDP port the devices send to; Envoy listens on it on every ingress node. Default: `5683`. */
  listenerPort?: number;
  /**
   * Device subnets (IPv4 CIDRs without host bits, each once), required, at least one. Envoy listens on every address
   * of the node (host network), so only datagrams from these sources are proxied; any other source is dropped and
   * counted in `udp.iot_udp.downstream_sess_no_route` without opening a session.
   */
  deviceSubnets: readonly string[];
  /**
   * Fleet figures that size the per-node session budget (`max_connections`) and file descriptors. Required; the
   * budget must fit a node's ephemeral ports.
   */
  sessions: EnvoySessionsInput;
  /** udp_proxy idle timeout in whole seconds. Default: `60`. */
  idleTimeoutSeconds?: number;
  /** Largest datagram in either direction, bytes (1 to 65535); Envoy drops larger ones. Default: `1500`. */
  maxDatagramBytes?: number;
  /** Envoy worker threads. Default: `2`. */
  concurrency?: number;
  /** Admin port, bound to 127.0.0.1 only. Default: `9901`. */
  adminPort?: number;
  /**
   * TCP port of the stats listener on every node address (host network): it serves only `/stats/prometheus`, proxied
   * to the loopback admin, and 404 for anything else. Must differ from `listenerPort` and `adminPort`. Default: `9902`.
   */
  metricsPort?: number;
  /** How Prometheus finds the stats listener. Default: `{ scrape: "annotations" }`. */
  metrics?: EnvoyMetricsInput;
}

/** An EnvoyPlanInput with every default applied and every check passed; only resolveEnvoyPlan makes one. */
export interface EnvoyPlan {
  readonly listenerPort: number;
  readonly deviceSubnets: readonly string[];
  /** The per-node session budget: `max_connections` and the file-descriptor limit. */
  readonly sizing: SessionSizing;
  readonly idleTimeoutSeconds: number;
  readonly maxDatagramBytes: number;
  readonly concurrency: number;
  readonly adminPort: number;
  readonly metricsPort: number;
  readonly metrics: { readonly scrape: MetricsScrapeMode };
}

/** What a PlanError of resolveEnvoyPlan is about. */
export const ENVOY_PLAN_SUBJECT = "Envoy ingress";

/** The longest protobuf Duration (google/protobuf/duration.proto: 10,000 years); Envoy rejects a longer idle_timeout. */
const MAX_DURATION_SECONDS = 315_576_000_000;

/** Where sizeEnvoySessions' problems belong in the plan input: the idle timeout at the top, the rest under `sessions`. */
const SIZING_PATHS = { idleTimeoutSeconds: "idleTimeoutSeconds" } as const;

/**
 * Applies every default and every check of the Envoy ingress once. Throws a PlanError listing every problem at its
 * key path in `input` (`metricsPort`, `deviceSubnets[1]`, `sessions.ingressNodes`). `keyName` names another key in a
 * message (a rule between two keys names both); a caller whose keys differ from the plan's (the stack's config)
 * passes its own, the component keeps the plan's.
 */
export function resolveEnvoyPlan(input: EnvoyPlanInput, keyName: (key: string) => string = (key) => key): EnvoyPlan {
  const problems = new Problems();
  const listenerPort = input.listenerPort ?? ENVOY_DEFAULTS.listenerPort;
  const idleTimeoutSeconds = input.idleTimeoutSeconds ?? ENVOY_DEFAULTS.idleTimeoutSeconds;
  const maxDatagramBytes = input.maxDatagramBytes ?? ENVOY_DEFAULTS.maxDatagramBytes;
  const concurrency = input.concurrency ?? ENVOY_DEFAULTS.concurrency;
  const adminPort = input.adminPort ?? ENVOY_DEFAULTS.adminPort;
  const metricsPort = input.metricsPort ?? ENVOY_DEFAULTS.metricsPort;
  const scrape = input.metrics?.scrape ?? ENVOY_DEFAULTS.metrics.scrape;

  problems.port("listenerPort", listenerPort);
  checkDeviceSubnets(problems, input.deviceSubnets);
  const sizing = sessionSizing(problems, input.sessions, idleTimeoutSeconds);
  // sizeEnvoySessions owns "a positive integer"; the upper bound is Envoy's, not the sizing's.
  if (Number.isSafeInteger(idleTimeoutSeconds) && idleTimeoutSeconds > MAX_DURATION_SECONDS) {
    problems.add("idleTimeoutSeconds", `must be at most ${MAX_DURATION_SECONDS} (the longest protobuf Duration)`);
  }
  problems.integer("maxDatagramBytes", maxDatagramBytes, 1, 65535);
  // Envoy reads --concurrency as a uint32 (source/server/options_impl.cc), from the container's command line.
  problems.integer("concurrency", concurrency, 1, 4_294_967_295);
  problems.port("adminPort", adminPort);
  problems.port("metricsPort", metricsPort);
  // TCP and UDP ports are separate namespaces, but one number for the device port and the stats port invites a scrape
  // config or firewall rule that opens both; the admin shares TCP with the stats listener, so the two must differ.
  if (metricsPort === listenerPort) {
    problems.add("metricsPort", `must differ from ${keyName("listenerPort")} (${listenerPort}), the device port`);
  }
  if (metricsPort === adminPort) {
    problems.add("metricsPort", `must differ from ${keyName("adminPort")} (${adminPort}): the admin stays on loopback`);
  }
  if (!(METRICS_SCRAPE_MODES as readonly string[]).includes(scrape)) {
    problems.add("metrics.scrape", `must be one of ${METRICS_SCRAPE_MODES.join(", ")}, got ${JSON.stringify(scrape)}`);
  }
  problems.throwIfAny(ENVOY_PLAN_SUBJECT);
  return {
    listenerPort,
    deviceSubnets: [...input.deviceSubnets],
    // Defined: sessionSizing returns undefined only after recording a problem, and there was none.
    sizing: sizing as SessionSizing,
    idleTimeoutSeconds,
    maxDatagramBytes,
    concurrency,
    adminPort,
    metricsPort,
    metrics: { scrape },
  };
}

/** The sizing of `sessions`, or undefined with its problems recorded at the plan's key paths. */
function sessionSizing(problems: Problems, sessions: EnvoySessionsInput, idleTimeoutSeconds: number): SessionSizing | undefined {
  if (typeof sessions !== "object" || sessions === null) {
    problems.add("sessions", "is required: devices, reportIntervalSeconds and ingressNodes");
    return undefined;
  }
  try {
    return sizeEnvoySessions({
      devices: sessions.devices,
      reportIntervalSeconds: sessions.reportIntervalSeconds,
      ingressNodes: sessions.ingressNodes,
      idleTimeoutSeconds,
    });
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    for (const problem of withPaths(error.problems, SIZING_PATHS, "sessions")) problems.add(problem.path, problem.message);
    return undefined;
  }
}
