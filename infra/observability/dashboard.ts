import { ENVOY_DECODER_CLUSTER, ENVOY_STAT_PREFIX } from "../envoy/bootstrap";

/**
 * The Grafana dashboard of the data path, rendered from code so that its expressions use only the series this project
 * exports: Envoy's Prometheus stats (`udp.<stat_prefix>.*` as `envoy_udp_*{envoy_udp_prefix}`, `cluster.<name>.*` as
 * `envoy_cluster_*{envoy_cluster_name}` by Envoy's default tag extractors; Envoy's Prometheus output keeps counter
 * names as they are, without a `_total` suffix) and the gateway's textfile metrics
 * (infra/gateway/scripts/gateway-metrics.jq). The checked-in `iot-udp-ingress.json` (DASHBOARD_FILE) next to this file
 * is `renderDashboard()` with the defaults; test/observability/dashboard.test.ts keeps the two equal, and
 * dashboard.system-test.ts checks every expression with promtool. It must not be called `dashboard.json`: Node's resolver tries `.json` before ts-node's
 * `.ts`, so `require("./dashboard")` under `pulumi preview` would load the JSON instead of this module.
 */
export interface DashboardOptions {
  /** udp_proxy stat_prefix of the bootstrap. Default: the bootstrap's, ENVOY_STAT_PREFIX (`iot_udp`). */
  statPrefix?: string;
  /** Envoy cluster of the decoders. Default: the bootstrap's, ENVOY_DECODER_CLUSTER (`decoder`). */
  clusterName?: string;
}

/** Grafana's dashboard uid; a ConfigMap or an import with the same uid replaces the dashboard instead of adding one. */
export const DASHBOARD_UID = "iot-udp-ingress";
/** The file name of the dashboard, in the repository (next to this module) and as the ConfigMap's key. */
export const DASHBOARD_FILE = "iot-udp-ingress.json";

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat: string;
  datasource: { type: "prometheus"; uid: string };
}

export interface DashboardPanel {
  id: number;
  type: "timeseries";
  title: string;
  description: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource: { type: "prometheus"; uid: string };
  fieldConfig: {
    defaults: {
      unit: string;
      min?: number;
      thresholds?: { mode: "absolute"; steps: Array<{ color: string; value: number | null }> };
      custom?: { thresholdsStyle: { mode: "line" } };
    };
    overrides: [];
  };
  options: { legend: { displayMode: "table"; placement: "bottom"; calcs: string[] }; tooltip: { mode: "multi"; sort: "desc" } };
  targets: DashboardTarget[];
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  schemaVersion: number;
  version: number;
  editable: boolean;
  graphTooltip: number;
  refresh: string;
  time: { from: string; to: string };
  timezone: string;
  templating: { list: Array<{ name: string; label: string; type: "datasource"; query: "prometheus"; hide: number }> };
  annotations: { list: [] };
  panels: DashboardPanel[];
}

export class DashboardOptionsError extends Error {}

/** Envoy stat names (and so label values here) need no escaping; anything else is a mistake, not a name. */
const STAT_NAME = /^[A-Za-z0-9_]+$/;

/**
 * Grafana resolves `${datasource}` to the chosen Prometheus; a fixed uid would tie the file to one Grafana. The
 * variable is of type datasource, so an import and Grafana's sidecar both work without editing the file.
 */
const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;
/**
 * Rates over 5 minutes: long enough for 2 samples at a 1-minute scrape interval, short enough to show a drop within
 * minutes. A fixed window rather than Grafana's `$__rate_interval` keeps every expression plain PromQL, which promtool
 * can check as it stands.
 */
export const RATE_WINDOW = "5m";

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  /** Where a line marks trouble (a handshake age above WireGuard's 3-minute rekey, ...). */
  threshold?: number;
  targets: Array<{ expr: string; legend: string }>;
}

/** The dashboard's panels, two per row, in reading order: traffic, budget, drops, steering, the gateway's health. */
function panelSpecs(udp: string, cluster: string): PanelSpec[] {
  return [
    {
      title: "Datagrams in, per node",
      description:
        "Device datagrams each ingress node's Envoy received (from devices) and sent on to its node-local decoders, and what the gateway steered into the cluster in total.",
      unit: "pps",
      targets: [
        { expr: `sum by (instance) (rate(envoy_udp_downstream_sess_rx_datagrams{${udp}}[${RATE_WINDOW}]))`, legend: "{{instance}} from devices" },
        { expr: `sum by (instance) (rate(envoy_cluster_udp_sess_tx_datagrams{${cluster}}[${RATE_WINDOW}]))`, legend: "{{instance}} to decoders" },
        { expr: `sum(rate(iot_gateway_steered_datagrams_total[${RATE_WINDOW}]))`, legend: "gateway: steered into the cluster" },
      ],
    },
    {
      title: "Datagrams out, per node",
      description:
        "Datagrams decoders answered through Envoy's session and Envoy sent back to devices. Replies and downlinks normally leave the pods directly (see README), so they show as WireGuard traffic per node on the gateway instead.",
      unit: "pps",
      targets: [
        { expr: `sum by (instance) (rate(envoy_cluster_udp_sess_rx_datagrams{${cluster}}[${RATE_WINDOW}]))`, legend: "{{instance}} from decoders" },
        { expr: `sum by (instance) (rate(envoy_udp_downstream_sess_tx_datagrams{${udp}}[${RATE_WINDOW}]))`, legend: "{{instance}} to devices" },
      ],
    },
    {
      title: "Sessions against budget, per node",
      description:
        "Active UDP sessions per node and the node's budget (max_connections): active sessions plus the circuit breaker's remaining slots (track_remaining). Above 80% for 5 minutes, IotIngressSessionsNearBudget fires.",
      unit: "short",
      targets: [
        { expr: `sum by (instance) (envoy_udp_downstream_sess_active{${udp}})`, legend: "{{instance}} sessions" },
        {
          expr:
            `sum by (instance) (envoy_udp_downstream_sess_active{${udp}}) + ` +
            `sum by (instance) (envoy_cluster_circuit_breakers_default_remaining_cx{${cluster}})`,
          legend: "{{instance}} budget (max_connections)",
        },
      ],
    },
    {
      title: "Drops by reason",
      description:
        "no_route: sources outside devices.subnets, dropped by Envoy before a session exists. overflow: the node's session budget was full. Gateway forward drops by reason (invalid, from_uplink, from_cluster, other): traffic outside the allowed flows.",
      unit: "pps",
      targets: [
        { expr: `sum by (instance) (rate(envoy_udp_downstream_sess_no_route{${udp}}[${RATE_WINDOW}]))`, legend: "{{instance}} Envoy no_route" },
        { expr: `sum by (instance) (rate(envoy_cluster_upstream_cx_overflow{${cluster}}[${RATE_WINDOW}]))`, legend: "{{instance}} Envoy overflow" },
        { expr: `sum by (reason) (rate(iot_gateway_forward_dropped_packets_total[${RATE_WINDOW}]))`, legend: "gateway forward {{reason}}" },
      ],
    },
    {
      title: "Steering targets",
      description:
        "Ingress nodes in the steering map in force, the nodes that qualified in the last decision, and the hash buckets each node holds. A node that leaves shows as a step here and a map rewrite in Steering changes.",
      unit: "short",
      targets: [
        { expr: "iot_gateway_steering_targets", legend: "nodes in the map" },
        { expr: "iot_gateway_steering_qualified_targets", legend: "nodes qualified" },
        { expr: "sum by (node) (iot_gateway_steering_buckets)", legend: "{{node}} buckets" },
      ],
    },
    {
      title: "Steering changes",
      description:
        "How often the steering map was rewritten (per hour), and the seconds since the last run whose fresh decision is in force; above 3 steering intervals, IotGatewaySteeringNotApplied fires.",
      unit: "short",
      targets: [
        { expr: "changes(iot_gateway_steering_last_change_timestamp_seconds[1h])", legend: "map rewrites in the last hour" },
        { expr: "time() - iot_gateway_steering_last_success_timestamp_seconds", legend: "seconds since the last applied decision" },
      ],
    },
    {
      title: "WireGuard handshake age",
      description:
        "Seconds since each peer's latest handshake, uplink (concentrators) and Kilo (nodes). WireGuard rekeys every 2 minutes on a live tunnel; above 3 minutes on the uplink, IotGatewayUplinkHandshakeOld fires. A peer that never shook hands is listed apart.",
      unit: "s",
      threshold: 180,
      targets: [
        { expr: "time() - (iot_gateway_wireguard_latest_handshake_timestamp_seconds > 0)", legend: "{{interface}} {{peer}} {{public_key}}" },
        { expr: "count by (interface) (iot_gateway_wireguard_latest_handshake_timestamp_seconds == 0)", legend: "{{interface}} peers never handshaken" },
      ],
    },
    {
      title: "Gateway WireGuard traffic per peer",
      description: "Bytes the gateway received from and sent to each WireGuard peer: from a node on the Kilo interface are that node's replies and downlinks.",
      unit: "Bps",
      targets: [
        { expr: `sum by (interface, peer, public_key) (rate(iot_gateway_wireguard_received_bytes_total[${RATE_WINDOW}]))`, legend: "{{interface}} {{peer}} {{public_key}} received" },
        { expr: `sum by (interface, peer, public_key) (rate(iot_gateway_wireguard_sent_bytes_total[${RATE_WINDOW}]))`, legend: "{{interface}} {{peer}} {{public_key}} sent" },
      ],
    },
    {
      title: "Decoder endpoints per node",
      description: "The node-local decoder endpoints each Envoy has from its EDS sidecar; a node at 0 drops every device steered to it.",
      unit: "short",
      targets: [
        { expr: `sum by (instance) (envoy_cluster_membership_healthy{${cluster}})`, legend: "{{instance}} healthy" },
        { expr: `sum by (instance) (envoy_cluster_membership_total{${cluster}})`, legend: "{{instance}} total" },
      ],
    },
    {
      title: "Gateway mesh config and conntrack",
      description:
        "Age of the Kilo mesh config the gateway routes by, nodes it does not route, and connection tracking use (fraction of nf_conntrack_max; IotGatewayConntrackNearFull fires above 0.8).",
      unit: "short",
      targets: [
        { expr: "iot_gateway_mesh_config_age_seconds", legend: "mesh config age (s)" },
        { expr: "iot_gateway_mesh_unrouted_nodes", legend: "nodes not routed" },
        { expr: "iot_gateway_conntrack_entries / iot_gateway_conntrack_max", legend: "conntrack use" },
      ],
    },
  ];
}

/** The dashboard as an object, for the ConfigMap and the checked-in file. */
export function buildDashboard(options: DashboardOptions = {}): Dashboard {
  const statPrefix = options.statPrefix ?? ENVOY_STAT_PREFIX;
  const clusterName = options.clusterName ?? ENVOY_DECODER_CLUSTER;
  for (const [key, value] of Object.entries({ statPrefix, clusterName })) {
    if (!STAT_NAME.test(value)) throw new DashboardOptionsError(`${key} must be an Envoy stat name (letters, digits, _), got ${JSON.stringify(value)}`);
  }
  const udp = `envoy_udp_prefix="${statPrefix}"`;
  const cluster = `envoy_cluster_name="${clusterName}"`;
  const panels = panelSpecs(udp, cluster).map(
    (spec, index): DashboardPanel => ({
      id: index + 1,
      type: "timeseries",
      title: spec.title,
      description: spec.description,
      gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
      datasource: DATASOURCE,
      fieldConfig: {
        defaults: {
          unit: spec.unit,
          min: 0,
          ...(spec.threshold === undefined
            ? {}
            : {
                thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: spec.threshold }] },
                custom: { thresholdsStyle: { mode: "line" } },
              }),
        },
        overrides: [],
      },
      options: { legend: { displayMode: "table", placement: "bottom", calcs: ["lastNotNull", "max"] }, tooltip: { mode: "multi", sort: "desc" } },
      targets: spec.targets.map((target, targetIndex) => ({
        refId: String.fromCharCode(65 + targetIndex),
        expr: target.expr,
        legendFormat: target.legend,
        datasource: DATASOURCE,
      })),
    }),
  );
  return {
    uid: DASHBOARD_UID,
    title: "IoT UDP ingress",
    description: "Devices -> WireGuard gateway -> Kilo mesh -> Envoy udp_proxy -> decoders. Rendered by infra/observability/dashboard.ts; edit there, not in Grafana.",
    tags: ["iot-udp-ingress"],
    schemaVersion: 39,
    version: 1,
    editable: false,
    graphTooltip: 1,
    refresh: "1m",
    time: { from: "now-6h", to: "now" },
    timezone: "utc",
    templating: { list: [{ name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", hide: 0 }] },
    annotations: { list: [] },
    panels,
  };
}

/** The dashboard JSON as Grafana imports it (and as the checked-in file holds it): two-space indent, final newline. */
export function renderDashboard(options: DashboardOptions = {}): string {
  return `${JSON.stringify(buildDashboard(options), null, 2)}\n`;
}

/** Every query of the dashboard with where it sits, for checks (promtool) and for readers. */
export function dashboardExpressions(dashboard: Dashboard): Array<{ panel: string; refId: string; expr: string }> {
  return dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, refId: target.refId, expr: target.expr })));
}
