import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { Problems } from "../problems";
import { readGatewayScript } from "./script-files";
import { withShellParameters, type ShellParameter } from "./shell-parameters";

/*
 * The gateway pair's leadership agent: which of the two gateways forwards device traffic is decided by a
 * coordination.k8s.io/v1 Lease on the cluster's API server, with client-go's leader-election rules
 * (staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go, resourcelock/leaselock.go). The agent itself is
 * scripts/gateway-leadership.sh; this module resolves its options and renders its parameters in.
 */

/** Exit status of a step that could not read or write the Lease (unreachable, forbidden, timed out); not a lost race. */
export const LEADERSHIP_EXIT_API_ERROR = 2;
/** Exit status of a step whose write lost to another gateway's (409 Conflict, or AlreadyExists on create): standby. */
export const LEADERSHIP_EXIT_LOST_RACE = 3;
/** Exit status of the step in which a holder that could not renew passed its renew deadline and stopped forwarding. */
export const LEADERSHIP_EXIT_FENCED = 4;
/** Exit status of a step whose own outcome was fine but whose hook (onActive or onStandby) failed. */
export const LEADERSHIP_EXIT_HOOK_FAILED = 5;

/** The agent's state file in its state directory (role, holder, the observed Lease record and when it was observed). */
export const LEADERSHIP_STATE_FILE = "leadership.json";
/** The agent's metrics file in the node exporter's textfile directory; its own, so the steering agent's stays whole. */
export const LEADERSHIP_METRICS_FILE = "iot_gateway_leadership.prom";

/** client-go's core-client defaults (LeaderElectionConfig: LeaseDuration 15 s, RenewDeadline 10 s, RetryPeriod 2 s). */
export const LEADERSHIP_DEFAULTS = {
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
} as const;

/** client-go's JitterFactor: NewLeaderElector refuses a renewDeadline not above retryPeriod * JitterFactor. */
const JITTER_FACTOR = 1.2;

export interface GatewayLeadershipOptions {
  /** Name of the Lease both gateways of the pair contend for (a DNS subdomain, as Kubernetes names a Lease). */
  readonly leaseName: string;
  /** Namespace of the Lease. */
  readonly namespace: string;
  /** This gateway's holderIdentity; the two gateways of a pair must differ (its hostname is the usual choice). */
  readonly identity: string;
  /** How long a holder's claim lasts without a renew, as other gateways see it. Default: `15`. */
  readonly leaseDurationSeconds?: number;
  /**
   * How long after its last successful renew a holder that cannot renew may keep forwarding; it runs onStandby by
   * then. Default: `10`. It must leave a retry period of margin below leaseDurationSeconds (see resolveGatewayLeadership).
   */
  readonly renewDeadlineSeconds?: number;
  /** The period the agent's timer runs a step at; also the longest one API call of a standby may take. Default: `2`. */
  readonly retryPeriodSeconds?: number;
  /** Command (argv, no shell) run by every step in which this gateway holds the Lease: start forwarding. Idempotent. */
  readonly onActive: readonly string[];
  /** Command (argv) run by every step in which it does not, fencing included: stop forwarding. Idempotent. */
  readonly onStandby: readonly string[];
}

/** The options with every default applied and every rule checked. */
export interface GatewayLeadership {
  readonly leaseName: string;
  readonly namespace: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  readonly onActive: readonly string[];
  readonly onStandby: readonly string[];
}

/** Where the agent finds its tools and keeps its files; any GatewayPaths with a leadershipStateDir added fits. */
export type LeadershipPaths = Pick<GatewayPaths, "kubectl" | "kubeconfig" | "jq" | "textfileDir"> & {
  /** Persistent (the observed record must survive a restart, or a restarted standby could not judge expiry at all). */
  readonly leadershipStateDir: string;
};

export const DEFAULT_LEADERSHIP_PATHS: LeadershipPaths = {
  kubectl: DEFAULT_GATEWAY_PATHS.kubectl,
  kubeconfig: DEFAULT_GATEWAY_PATHS.kubeconfig,
  jq: DEFAULT_GATEWAY_PATHS.jq,
  textfileDir: DEFAULT_GATEWAY_PATHS.textfileDir,
  leadershipStateDir: "/var/lib/iot-gateway-leadership",
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Kubernetes takes any holderIdentity; this one also goes into log lines and metric labels, so it stays plain.
const IDENTITY = /^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$/;

/**
 * Applies the defaults and checks the options, reporting every problem at once (a PlanError, each problem at its
 * option's name). Beyond client-go's own rules (NewLeaderElector: leaseDuration > renewDeadline >
 * retryPeriod * JitterFactor), renewDeadline + retryPeriod must stay below leaseDuration. A holder that cannot renew
 * stops forwarding by its renew deadline if its steps come on time, and at the start of the first late step otherwise;
 * the standby takes over a full lease duration after it last saw the record change. The retry period of margin
 * covers one step that comes late by up to a period, and the time a step takes.
 */
export function resolveGatewayLeadership(options: GatewayLeadershipOptions): GatewayLeadership {
  const problems = new Problems();
  const resolved: GatewayLeadership = {
    leaseName: options.leaseName,
    namespace: options.namespace,
    identity: options.identity,
    leaseDurationSeconds: options.leaseDurationSeconds ?? LEADERSHIP_DEFAULTS.leaseDurationSeconds,
    renewDeadlineSeconds: options.renewDeadlineSeconds ?? LEADERSHIP_DEFAULTS.renewDeadlineSeconds,
    retryPeriodSeconds: options.retryPeriodSeconds ?? LEADERSHIP_DEFAULTS.retryPeriodSeconds,
    onActive: options.onActive,
    onStandby: options.onStandby,
  };
  if (!(resolved.leaseName.length <= 253 && DNS_SUBDOMAIN.test(resolved.leaseName))) {
    problems.add("leaseName", `must be a DNS subdomain (lower case letters, digits, '-' and '.', at most 253 characters), got ${JSON.stringify(resolved.leaseName)}`);
  }
  if (!(resolved.namespace.length <= 63 && DNS_LABEL.test(resolved.namespace))) {
    problems.add("namespace", `must be a DNS label (lower case letters, digits and '-', at most 63 characters), got ${JSON.stringify(resolved.namespace)}`);
  }
  if (!(resolved.identity.length <= 128 && IDENTITY.test(resolved.identity))) {
    problems.add("identity", `must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting and ending with a letter or digit, got ${JSON.stringify(resolved.identity)}`);
  }
  const durations = ["leaseDurationSeconds", "renewDeadlineSeconds", "retryPeriodSeconds"] as const;
  for (const name of durations) problems.integer(name, resolved[name], 1, 3600);
  const valid = durations.every((name) => Number.isInteger(resolved[name]) && resolved[name] >= 1 && resolved[name] <= 3600);
  if (valid) {
    const { leaseDurationSeconds: lease, renewDeadlineSeconds: deadline, retryPeriodSeconds: retry } = resolved;
    if (deadline >= lease) {
      problems.add("renewDeadlineSeconds", `must be less than leaseDurationSeconds (${lease}), got ${deadline}`);
    } else if (deadline + retry >= lease) {
      problems.add(
        "renewDeadlineSeconds",
        `plus retryPeriodSeconds (${retry}) must be less than leaseDurationSeconds (${lease}), got ${deadline}: a holder that cannot renew must stop forwarding before the other gateway may take over`,
      );
    }
    if (deadline <= retry * JITTER_FACTOR) {
      problems.add("retryPeriodSeconds", `times ${JITTER_FACTOR} must be less than renewDeadlineSeconds (${deadline}), got ${retry}: a holder needs a retry before its deadline`);
    }
  }
  for (const name of ["onActive", "onStandby"] as const) {
    const command = resolved[name];
    if (command.length === 0 || command[0] === "") problems.add(name, "must be a command: a non-empty argv whose first word names the program");
  }
  problems.throwIfAny("gateway leadership");
  return resolved;
}

/** The variables scripts/gateway-leadership.sh reads. */
export function leadershipAgentParameters(options: GatewayLeadershipOptions, paths: LeadershipPaths = DEFAULT_LEADERSHIP_PATHS): ShellParameter[] {
  const o = resolveGatewayLeadership(options);
  return [
    { name: "KUBECTL", value: paths.kubectl },
    { name: "KUBECONFIG_FILE", value: paths.kubeconfig },
    { name: "JQ", value: paths.jq },
    { name: "LEASE_NAME", value: o.leaseName },
    { name: "LEASE_NAMESPACE", value: o.namespace },
    { name: "IDENTITY", value: o.identity },
    { name: "LEASE_DURATION", value: o.leaseDurationSeconds, comment: "seconds" },
    { name: "RENEW_DEADLINE", value: o.renewDeadlineSeconds, comment: "seconds" },
    { name: "RETRY_PERIOD", value: o.retryPeriodSeconds, comment: "seconds" },
    { name: "STATE_DIR", value: paths.leadershipStateDir },
    { name: "STATE_FILE", value: `${paths.leadershipStateDir}/${LEADERSHIP_STATE_FILE}` },
    { name: "TEXTFILE_DIR", value: paths.textfileDir },
    { name: "METRICS_FILE", value: LEADERSHIP_METRICS_FILE },
    { name: "ON_ACTIVE", value: o.onActive },
    { name: "ON_STANDBY", value: o.onStandby },
    { name: "EXIT_API_ERROR", value: LEADERSHIP_EXIT_API_ERROR },
    { name: "EXIT_LOST_RACE", value: LEADERSHIP_EXIT_LOST_RACE },
    { name: "EXIT_FENCED", value: LEADERSHIP_EXIT_FENCED },
    { name: "EXIT_HOOK_FAILED", value: LEADERSHIP_EXIT_HOOK_FAILED },
  ];
}

/** The leadership agent as a gateway gets it: scripts/gateway-leadership.sh with its parameters rendered in. */
export function renderLeadershipAgentScript(options: GatewayLeadershipOptions, paths: LeadershipPaths = DEFAULT_LEADERSHIP_PATHS): string {
  return withShellParameters(readGatewayScript("gateway-leadership.sh"), leadershipAgentParameters(options, paths));
}

/** One RBAC rule, as a Role's `rules` entry. */
export interface LeadershipPolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * What the gateway's ServiceAccount needs in the Lease's namespace: get and update of its Lease only, and create.
 * Create cannot be restricted to a name: the name is in the request body, not in the URL the authorizer sees, so the
 * request has no name and a rule with resourceNames never matches it (plugin/pkg/auth/authorizer/rbac/rbac.go
 * `RuleAllows` matches the rule's resourceNames against the request's name;
 * https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources: "You cannot restrict create or
 * deletecollection requests by their resource name"). The gateway can therefore create other Leases in that
 * namespace, but not read, change or take over any Lease other than its own.
 */
export function leadershipRbacRules(options: GatewayLeadershipOptions): LeadershipPolicyRule[] {
  const o = resolveGatewayLeadership(options);
  return [
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [o.leaseName], verbs: ["get", "update"] },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
  ];
}
