import { stringify } from "yaml";
import { ENVOY_DECODER_CLUSTER, ENVOY_STAT_PREFIX } from "../envoy/bootstrap";

/**
 * The alerts on the data path, as a Prometheus rules file (and the same groups for a PrometheusRule). Metric names:
 * Envoy's Prometheus stats (`udp.<stat_prefix>.*` becomes `envoy_udp_*{envoy_udp_prefix=...}`, `cluster.<name>.*`
 * becomes `envoy_cluster_*{envoy_cluster_name=...}`, by Envoy's default tag extractors) and the gateway's textfile
 * metrics (infra/gateway/scripts/gateway-metrics.jq).
 */
export interface AlertRuleOptions {
  /** Envoy's per-node session budget (the cluster's circuit breaker max_connections). */
  maxConnections: number;
  /** The steering agent's timer period, seconds. */
  steeringIntervalSeconds: number;
  /** The WireGuard interface of the device uplink on the gateway. */
  uplinkInterface: string;
  /** udp_proxy stat_prefix. Default: the bootstrap's, ENVOY_STAT_PREFIX ("iot_udp"). */
  statPrefix?: string;
  /** Envoy cluster of the decoders. Default: the bootstrap's, ENVOY_DECODER_CLUSTER ("decoder"). */
  clusterName?: string;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: `${number}m` | `${number}s`;
  labels: { severity: "critical" | "warning" };
  annotations: { summary: string; check: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export interface RulesFile {
  groups: RuleGroup[];
}

export class AlertRuleOptionsError extends Error {}

/** The alert groups; every alert carries a `check` annotation saying where to look first. */
export function buildAlertRules(options: AlertRuleOptions): RulesFile {
  const { maxConnections, steeringIntervalSeconds, uplinkInterface } = options;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw new AlertRuleOptionsError(`maxConnections must be a positive integer, got ${maxConnections}`);
  if (!Number.isSafeInteger(steeringIntervalSeconds) || steeringIntervalSeconds < 1) {
    throw new AlertRuleOptionsError(`steeringIntervalSeconds must be a positive integer, got ${steeringIntervalSeconds}`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(uplinkInterface)) throw new AlertRuleOptionsError(`uplinkInterface must be an interface name, got "${uplinkInterface}"`);
  const udp = `envoy_udp_prefix="${options.statPrefix ?? ENVOY_STAT_PREFIX}"`;
  const cluster = `envoy_cluster_name="${options.clusterName ?? ENVOY_DECODER_CLUSTER}"`;
  return {
    groups: [
      {
        name: "iot-udp-ingress-envoy",
        rules: [
          {
            alert: "IotIngressSessionsNearBudget",
            // The budget is rendered in: it is the bootstrap's max_connections, the same number for every node.
            expr: `envoy_udp_downstream_sess_active{${udp}} > ${0.8 * maxConnections}`,
            for: "5m",
            labels: { severity: "warning" },
            annotations: {
              summary: `{{ $labels.instance }} holds {{ $value }} UDP sessions, above 80% of its budget of ${maxConnections}.`,
              check:
                "Whether steering lost a node (iot_gateway_steering_targets) so the others carry its devices; devices.expectedCount and devices.reportIntervalSeconds against the fleet; add ingress nodes before the budget is full.",
            },
          },
          {
            alert: "IotIngressSessionOverflow",
            expr: `increase(envoy_cluster_upstream_cx_overflow{${cluster}}[5m]) > 0`,
            labels: { severity: "critical" },
            annotations: {
              summary: "{{ $labels.instance }} dropped datagrams because its session budget (max_connections) is full.",
              check: "The node's sessions (envoy_udp_downstream_sess_active) and the steering spread; raise devices.expectedCount or add ingress nodes.",
            },
          },
        ],
      },
      {
        name: "iot-udp-ingress-gateway",
        rules: [
          {
            alert: "IotGatewayMetricsAbsent",
            expr: "absent(iot_gateway_steering_last_run_timestamp_seconds)",
            for: "10m",
            labels: { severity: "critical" },
            annotations: {
              summary: "No steering metrics from the gateway: every other gateway alert is blind.",
              check: "The gateway Service's endpoint (tunnel address) is scraped; prometheus-node-exporter runs; the Kilo mesh reaches the gateway (kilo-connect.service).",
            },
          },
          {
            alert: "IotGatewayNoSteeringTarget",
            expr: "iot_gateway_steering_qualified_targets == 0 or iot_gateway_steering_targets == 0",
            for: "2m",
            labels: { severity: "critical" },
            annotations: {
              summary: "No ingress node qualifies for steering; the gateway keeps the last good map, which may reach no live node.",
              check: "Envoy and decoder pods Ready on the ingress nodes; the decoder Service's EndpointSlices; `journalctl -u iot-steering-agent` on the gateway.",
            },
          },
          {
            alert: "IotGatewaySteeringNotApplied",
            expr: `time() - iot_gateway_steering_last_success_timestamp_seconds > ${3 * steeringIntervalSeconds}`,
            labels: { severity: "critical" },
            annotations: {
              summary: `The steering map has not matched a fresh decision for 3 steering intervals (${3 * steeringIntervalSeconds} s).`,
              check:
                "iot_gateway_steering_last_exit_code and last_api_error_timestamp: the gateway's kubeconfig/token, the API server, the Kilo interface; `systemctl status iot-steering-agent` on the gateway.",
            },
          },
          {
            alert: "IotGatewayMeshConfigStale",
            expr: "iot_gateway_mesh_stale == 1",
            labels: { severity: "critical" },
            annotations: {
              summary: "A node Kilo counts has not been routed by the gateway's Kilo interface for longer than the stale threshold.",
              check: "`systemctl status kilo-connect` and kgctl's log on the gateway; nodes without a Kilo endpoint (the mesh status file names them).",
            },
          },
          {
            alert: "IotGatewayUplinkHandshakeOld",
            expr: `time() - iot_gateway_wireguard_latest_handshake_timestamp_seconds{interface="${uplinkInterface}"} > 180`,
            labels: { severity: "critical" },
            annotations: {
              summary: "The uplink to concentrator {{ $labels.peer }} has had no WireGuard handshake for 3 minutes: devices cannot reach the gateway, downlinks cannot leave.",
              check: "The concentrator's WireGuard peer (public key, endpoint, AllowedIPs = concentratorPeers), the security group's uplink port, the concentrator's reachability.",
            },
          },
          {
            alert: "IotGatewayConntrackNearFull",
            expr: "iot_gateway_conntrack_entries / iot_gateway_conntrack_max > 0.8",
            for: "5m",
            labels: { severity: "warning" },
            annotations: {
              summary: "Connection tracking on the gateway is above 80% of nf_conntrack_max; when full, new device flows are dropped.",
              check: "devices.expectedCount against the fleet (it sizes nf_conntrack_max) and stray sources in iot_gateway_forward_dropped_packets_total.",
            },
          },
          {
            alert: "IotGatewayForwardDrops",
            expr: "sum by (instance, reason) (increase(iot_gateway_forward_dropped_packets_total[10m])) > 0",
            labels: { severity: "warning" },
            annotations: {
              summary: "The gateway's forward chain dropped {{ $value }} packets ({{ $labels.reason }}) in 10 minutes.",
              check:
                "from_uplink: devices sending to other addresses or ports than ingress.address:port; from_cluster: pods sending to devices outside decoder.downlinkPorts; invalid: asymmetric routing.",
            },
          },
        ],
      },
    ],
  };
}

/**
 * The rules file Prometheus loads (`rule_files:`), YAML. The stack exports it as `alertRules`
 * (`pulumi stack output alertRules > iot-udp-ingress-rules.yaml`); with `observability.prometheusRule` the same groups
 * become a PrometheusRule's spec (components/ingress-observability.ts).
 */
export function renderAlertRules(options: AlertRuleOptions): string {
  return stringify(buildAlertRules(options), { lineWidth: 0 });
}
