import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AlertRuleOptionsError, buildAlertRules, renderAlertRules, type AlertRuleOptions } from "../infra/observability/alerts";
import { buildDashboard, DASHBOARD_FILE, DashboardOptionsError, renderDashboard, type DashboardOptions } from "../infra/observability/dashboard";
import { appLabels } from "./kubernetes-placement";

export interface IngressObservabilityArgs {
  /** Namespace of the PrometheusRule and the dashboard ConfigMap (it must exist). */
  namespace: pulumi.Input<string>;
  /** What the alert expressions are rendered with: the session budget, the steering interval, the uplink interface. */
  alerts: AlertRuleOptions;
  /** The Envoy names the dashboard selects. Default: the bootstrap's defaults (see DashboardOptions). */
  dashboard?: DashboardOptions;
  /**
   * Create a `monitoring.coreos.com/v1` PrometheusRule with the alert groups, for the Prometheus Operator (its CRDs
   * must exist, or the deployment fails on that resource). Default: `false`; the rules are always in `alertRules`.
   */
  prometheusRule?: boolean;
  /** Create a ConfigMap labelled `grafana_dashboard: "1"` with the dashboard, for Grafana's sidecar. Default: `false`. */
  grafanaDashboard?: boolean;
  /**
   * Extra labels on the PrometheusRule and the dashboard ConfigMap, e.g. `release: kube-prometheus-stack`, which that
   * chart's Prometheus selects rules by. Default: none.
   */
  labels?: Record<string, string>;
}

/** The label Grafana's dashboard sidecar (grafana/helm-charts, `sidecar.dashboards.label`) looks for by default. */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: "1" } as const;

const APP_NAME = "iot-udp-ingress-observability";

/**
 * The alert rules and the dashboard of the data path, for the cluster's own Prometheus and Grafana. Both are always
 * rendered (`alertRules`, `dashboard`) so that a Prometheus outside the Operator can load the plain rules file; the
 * Kubernetes objects exist only when asked for, because their CRDs or sidecars may not.
 */
export class IngressObservability extends pulumi.ComponentResource {
  /** The Prometheus rules file (YAML), the same groups as the PrometheusRule's spec. */
  public readonly alertRules: string;
  /** The Grafana dashboard JSON, as infra/observability/iot-udp-ingress.json holds it for the defaults. */
  public readonly dashboard: string;

  constructor(name: string, args: IngressObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("iot-udp-ingress:index:IngressObservability", name, {}, opts);
    const extraLabels = args.labels ?? {};
    checkObservabilityArgs(args, extraLabels);
    // The renderers check their own options; their errors name no property, so they are rethrown with one.
    const rules = withPropertyPath("alerts", args.alerts, () => buildAlertRules(args.alerts));
    this.alertRules = renderAlertRules(args.alerts);
    withPropertyPath("dashboard", args.dashboard ?? {}, () => buildDashboard(args.dashboard));
    this.dashboard = renderDashboard(args.dashboard);
    // Ours last: a user label must not be able to take the app labels away (the objects would lose their owner).
    const labels = { ...extraLabels, ...appLabels(APP_NAME, "observability") };

    if (args.prometheusRule ?? false) {
      new k8s.apiextensions.CustomResource(
        `${name}-prometheusrule`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PrometheusRule",
          metadata: { name: "iot-udp-ingress", namespace: args.namespace, labels },
          spec: { groups: rules.groups },
        },
        { parent: this },
      );
    }
    if (args.grafanaDashboard ?? false) {
      new k8s.core.v1.ConfigMap(
        `${name}-dashboard`,
        {
          metadata: { name: "iot-udp-ingress-dashboard", namespace: args.namespace, labels: { ...labels, ...GRAFANA_DASHBOARD_LABEL } },
          data: { [DASHBOARD_FILE]: this.dashboard },
        },
        { parent: this },
      );
    }
    this.registerOutputs({ alertRules: this.alertRules, dashboard: this.dashboard });
  }
}

/** A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key: value` is not a Kubernetes label (apimachinery validation IsQualifiedName / IsValidLabelValue), if it is not. */
export function labelProblem(key: string, value: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const [prefix, labelName] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`;
  if (!LABEL_NAME.test(labelName)) return `key ${JSON.stringify(key)} is not a label name (1-63 letters, digits, '-', '_', '.', alphanumeric at both ends)`;
  if (value !== "" && !LABEL_NAME.test(value)) return `value ${JSON.stringify(value)} is not a label value (at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)`;
  return undefined;
}

function checkObservabilityArgs(args: IngressObservabilityArgs, labels: Record<string, string>): void {
  const errors: pulumi.InputPropertyErrorDetails[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const problem = typeof value === "string" ? labelProblem(key, value) : `value of ${JSON.stringify(key)} must be a string`;
    if (problem !== undefined) errors.push({ propertyPath: `labels.${key}`, reason: problem });
    if (key === "grafana_dashboard") errors.push({ propertyPath: `labels.${key}`, reason: "is set by grafanaDashboard, on the dashboard ConfigMap only" });
  }
  for (const key of ["prometheusRule", "grafanaDashboard"] as const) {
    if (args[key] !== undefined && typeof args[key] !== "boolean") errors.push({ propertyPath: key, reason: `must be a boolean, got ${JSON.stringify(args[key])}` });
  }
  if (errors.length > 0) throw new pulumi.InputPropertiesError({ message: "IngressObservability: invalid arguments", errors });
}

/**
 * Runs a renderer and rethrows its option errors (whose messages start with the option's name) under
 * `prefix.<that name>`. Anything else is not a bad argument and goes on as it is, so that a bug is not reported as one.
 */
function withPropertyPath<T>(prefix: string, options: object, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof AlertRuleOptionsError || error instanceof DashboardOptionsError)) throw error;
    const reason = (error as Error).message;
    const key = reason.split(" ")[0];
    throw new pulumi.InputPropertyError({ propertyPath: key in options ? `${prefix}.${key}` : prefix, reason });
  }
}
