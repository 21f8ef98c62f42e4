/**
 * The alert rules' test cases: per alert, series that must fire it and series that must not, as promtool unit tests.
 * alerts.test.ts checks there is one per alert; alerts.system-test.ts runs them with promtool.
 */
import { stringify } from "yaml";
import { buildAlertRules, renderAlertRules } from "../../../infra/observability/alerts";

export const options = { maxConnections: 1000, steeringIntervalSeconds: 30, uplinkInterface: "wg-uplink" };
export const rules = renderAlertRules(options);
export const alertNames = buildAlertRules(options).groups.flatMap((g) => g.rules.map((r) => r.alert));

export interface Case {
  alert: string;
  /** Series that must fire the alert at `at`. */
  fires: Record<string, string>;
  /** Series that must not. */
  silent: Record<string, string>;
  at: string;
  labels?: Record<string, string>;
  /** The alert's value at `at`, where its summary shows it. */
  value?: string;
}

const envoy = 'instance="node-1:9902"';
const gw = 'instance="10.5.0.1:9100"';
// promtool's clock starts at 0: a timestamp series of 0 means "at the start", so time() - it is the eval time.
export const cases: Case[] = [
  {
    alert: "IotIngressSessionsNearBudget",
    fires: { [`envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp",${envoy}}`]: "850x20" },
    silent: { [`envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp",${envoy}}`]: "790x20" },
    at: "10m",
    labels: { envoy_udp_prefix: "iot_udp", instance: "node-1:9902" },
    value: "850",
  },
  {
    alert: "IotIngressSessionOverflow",
    fires: { [`envoy_cluster_upstream_cx_overflow{envoy_cluster_name="decoder",${envoy}}`]: "0 0 0 5 9 9" },
    silent: { [`envoy_cluster_upstream_cx_overflow{envoy_cluster_name="decoder",${envoy}}`]: "3x5" },
    at: "5m",
    labels: { envoy_cluster_name: "decoder", instance: "node-1:9902" },
  },
  {
    alert: "IotGatewayMetricsAbsent",
    fires: { "some_other_metric": "1x20" },
    silent: { [`iot_gateway_steering_last_run_timestamp_seconds{${gw}}`]: "0+60x20" },
    at: "15m",
    labels: {},
  },
  {
    alert: "IotGatewayNoSteeringTarget",
    fires: { [`iot_gateway_steering_qualified_targets{${gw}}`]: "0x10", [`iot_gateway_steering_targets{${gw}}`]: "2x10" },
    silent: { [`iot_gateway_steering_qualified_targets{${gw}}`]: "1x10", [`iot_gateway_steering_targets{${gw}}`]: "2x10" },
    at: "5m",
    labels: { instance: "10.5.0.1:9100" },
  },
  {
    alert: "IotGatewaySteeringNotApplied",
    // Last success at t=0 and never again: older than 90 s after 2 minutes. Silent: a success every minute.
    fires: { [`iot_gateway_steering_last_success_timestamp_seconds{${gw}}`]: "0x5" },
    silent: { [`iot_gateway_steering_last_success_timestamp_seconds{${gw}}`]: "0+60x5" },
    at: "2m",
    labels: { instance: "10.5.0.1:9100" },
  },
  {
    alert: "IotGatewayMeshConfigStale",
    fires: { [`iot_gateway_mesh_stale{${gw}}`]: "0 1 1" },
    silent: { [`iot_gateway_mesh_stale{${gw}}`]: "0 0 0" },
    at: "2m",
    labels: { instance: "10.5.0.1:9100" },
  },
  {
    alert: "IotGatewayUplinkHandshakeOld",
    fires: { [`iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="wg-uplink",peer="c1",${gw}}`]: "0x5" },
    silent: {
      [`iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="wg-uplink",peer="c1",${gw}}`]: "0+60x5",
      // An old handshake on a Kilo peer (idle node) is not the uplink.
      [`iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="kilo0",${gw}}`]: "0x5",
    },
    at: "4m",
    labels: { interface: "wg-uplink", peer: "c1", instance: "10.5.0.1:9100" },
  },
  {
    alert: "IotGatewayConntrackNearFull",
    fires: { [`iot_gateway_conntrack_entries{${gw}}`]: "900x10", [`iot_gateway_conntrack_max{${gw}}`]: "1000x10" },
    silent: { [`iot_gateway_conntrack_entries{${gw}}`]: "700x10", [`iot_gateway_conntrack_max{${gw}}`]: "1000x10" },
    at: "8m",
    labels: { instance: "10.5.0.1:9100" },
  },
  {
    alert: "IotGatewayForwardDrops",
    fires: { [`iot_gateway_forward_dropped_packets_total{reason="from_uplink",${gw}}`]: "0 0 4 8" },
    silent: { [`iot_gateway_forward_dropped_packets_total{reason="from_uplink",${gw}}`]: "5x10" },
    at: "3m",
    labels: { reason: "from_uplink", instance: "10.5.0.1:9100" },
    value: "8",
  },
];

/** promtool unit tests: the `which` series of each case, expecting the alert to fire (or not, `expect`). */
export function unitTests(which: "fires" | "silent", only?: string, expect: "fires" | "silent" = which): string {
  return stringify({
    rule_files: ["rules.yaml"],
    evaluation_interval: "1m",
    tests: cases
      .filter((c) => only === undefined || c.alert === only)
      .map((c) => ({
        interval: "1m",
        input_series: Object.entries(c[which]).map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: expect === "silent" ? [] : [{ exp_labels: { ...c.labels, severity: ruleOf(c.alert).labels.severity }, exp_annotations: annotationsOf(c) }],
          },
        ],
      })),
  });
}

export function ruleOf(alert: string) {
  return buildAlertRules(options).groups.flatMap((g) => g.rules).find((r) => r.alert === alert)!;
}

/** The annotations as Prometheus expands them: only `{{ $labels.x }}` and `{{ $value }}` are used. */
export function annotationsOf(c: Case): Record<string, string> {
  const expand = (text: string) =>
    text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => c.labels?.[name] ?? "").replace(/\{\{ \$value \}\}/g, c.value ?? "");
  return Object.fromEntries(Object.entries(ruleOf(c.alert).annotations).map(([key, text]) => [key, expand(text)]));
}
