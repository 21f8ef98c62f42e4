/**
 * k: the real Prometheus of lab/monitoring.ts, after the other scenarios. It scraped the gateway's node exporter
 * through the Kilo interface and the Envoy stand-ins' stats listeners all along; now its answers are checked against
 * what the scenarios did, its alert rules against what must and must not fire, the node exporter's port against the
 * uplink and the internet, and the dashboard is drawn from its range queries.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { buildAlertRules, type AlertRuleOptions } from "../infra/observability/alerts";
import { buildDashboard, RATE_WINDOW } from "../infra/observability/dashboard";
import { FILTER_TABLE } from "../infra/gateway";
import { run } from "../harness/commands";
import { nsExec } from "../harness/netns";
import { parseExposition, valueOf } from "../harness/prometheus-exposition";
import { legendOf, renderDashboardPicture, withRateWindow, type PicturePanel } from "./dashboard-picture";
import { type Lab } from "./lab";
import { GATEWAY_PUBLIC_IP, NS } from "./plan";
import { ENVOY_JOB, GATEWAY_JOB, SCRAPE_INTERVAL_SECONDS, type LabMonitoring } from "./monitoring";
import { type ScenarioResult } from "./scenarios";

/** The dashboard's 5-minute rate window, scaled to the lab's 1-second scrapes: several samples, steps still visible. */
export const LAB_RATE_WINDOW = "15s";

/** Alerts that must fire after the scenarios: the forward-policy probes of scenario i were dropped from the uplink. */
const MUST_FIRE = { IotGatewayForwardDrops: { reason: "from_uplink" } } as const;
/** Alerts that must stay silent: the lab's gateway is healthy, steered, meshed, with a live uplink and no session overflow. */
const MUST_BE_SILENT = [
  "IotGatewayMetricsAbsent",
  "IotGatewayNoSteeringTarget",
  "IotGatewaySteeringNotApplied",
  "IotGatewayMeshConfigStale",
  "IotGatewayUplinkHandshakeOld",
  "IotGatewayConntrackNearFull",
  "IotIngressSessionOverflow",
] as const;

/** curl's exit status for an HTTP GET from a namespace (and source address): 0 answered, 28 timed out, 7 refused. */
function httpGet(ns: string, url: string, source?: string): number {
  return run("ip", ["netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "--max-time", "2", ...(source === undefined ? [] : ["--interface", source]), url]).status ?? -1;
}

/** The node exporter's port from the uplink side: a device's address through the tunnel, and the internet at the public address. */
function uplinkProbes(lab: Lab, port: number): Array<{ what: string; status: number }> {
  const device = "10.131.255.210";
  return [
    { what: `device ${device} -> ingress address ${lab.gateway.ingressAddress}:${port} (through the uplink)`, status: httpGet(NS.fleet, `http://${lab.gateway.ingressAddress}:${port}/metrics`, device) },
    { what: `internet -> public address ${GATEWAY_PUBLIC_IP}:${port}`, status: httpGet(NS.concentrator, `http://${GATEWAY_PUBLIC_IP}:${port}/metrics`) },
  ];
}

/**
 * The probes above with the firewall's input chain opened for the port (a rule inserted first, removed after), to show
 * they can see an open port: without this, a probe that never arrives would pass as well.
 */
function uplinkProbesOpened(lab: Lab, port: number): Array<{ what: string; status: number }> {
  const comment = "lab: node exporter opened to all";
  nsExec(NS.gateway, "nft", ["insert", "rule", "inet", FILTER_TABLE, "input", "tcp", "dport", String(port), "accept", "comment", `"${comment}"`]);
  try {
    return uplinkProbes(lab, port);
  } finally {
    const listing = nsExec(NS.gateway, "nft", ["-a", "list", "chain", "inet", FILTER_TABLE, "input"]);
    const handle = listing.split("\n").find((line) => line.includes(comment))?.match(/# handle (\d+)/)?.[1];
    if (handle === undefined) throw new Error(`the lab's probe rule is not in the input chain:\n${listing}`);
    nsExec(NS.gateway, "nft", ["delete", "rule", "inet", FILTER_TABLE, "input", "handle", handle]);
  }
}

/** Each stand-in worker's own exposition, read at its stats listener (what Prometheus scraped). */
function standinCounter(lab: Lab, monitoringNs: string, name: string): number {
  let total = 0;
  for (const envoy of lab.envoys.values()) {
    for (const address of envoy.statsAddresses) {
      const samples = parseExposition(nsExec(monitoringNs, "curl", ["-sS", "--max-time", "5", `http://${address}/stats/prometheus`]));
      total += valueOf(samples, { name, labels: {} });
    }
  }
  return total;
}

export async function monitoringScenario(lab: Lab, monitoring: LabMonitoring, alerts: AlertRuleOptions, picturePath: string): Promise<ScenarioResult> {
  // A fresh metrics file after the last scenario, then no traffic: Prometheus's next scrape sees what the files hold.
  await lab.gateway.steer(lab.api);
  await monitoring.nextScrape();
  const now = Math.floor(Date.now() / 1000);
  const range = `${now - monitoring.startedSeconds}s`;

  const targets = await monitoring.targets();
  const up = (job: string) => targets.filter((t) => t.labels.job === job && t.health === "up").length;
  const rules = await monitoring.rules();
  const expectedAlerts = buildAlertRules(alerts).groups.flatMap((g) => g.rules.map((r) => r.alert));
  const loaded = rules.filter((r) => r.type === "alerting").map((r) => r.name);
  const unhealthy = rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError ?? r.health}`);
  const firing = (name: string) => rules.find((r) => r.name === name)?.alerts?.filter((a) => a.state === "firing") ?? [];
  const mustFire = Object.entries(MUST_FIRE).map(([name, labels]) => ({ name, ok: firing(name).some((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v)) }));
  const spoke = MUST_BE_SILENT.filter((name) => (rules.find((r) => r.name === name)?.alerts ?? []).length > 0);

  // The gateway: Prometheus's values against the textfile the agent wrote, and the steering history of scenarios c and h.
  const textfile = parseExposition(readFileSync(lab.gateway.metricsFile, "utf8"));
  const fileDrops = valueOf(textfile, { name: "iot_gateway_forward_dropped_packets_total", labels: { reason: "from_uplink" } });
  const promDrops = await monitoring.scalar(`iot_gateway_forward_dropped_packets_total{job="${GATEWAY_JOB}",reason="from_uplink"}`);
  const fileSteered = valueOf(textfile, { name: "iot_gateway_steered_datagrams_total", labels: {} });
  const promSteered = await monitoring.scalar(`iot_gateway_steered_datagrams_total{job="${GATEWAY_JOB}"}`);
  const fewestTargets = await monitoring.scalar(`min_over_time(iot_gateway_steering_targets[${range}])`);
  const mostTargets = await monitoring.scalar(`max_over_time(iot_gateway_steering_targets[${range}])`);
  const mapChanges = await monitoring.scalar(`changes(iot_gateway_steering_last_change_timestamp_seconds[${range}])`);
  const dropIncrease = await monitoring.scalar(`sum(increase(iot_gateway_forward_dropped_packets_total{reason="from_uplink"}[${range}]))`);

  // Envoy: what Prometheus holds for every node against what the stand-ins count now.
  const promRx = await monitoring.scalar(`sum(envoy_udp_downstream_sess_rx_datagrams{job="${ENVOY_JOB}"})`);
  const standinRx = standinCounter(lab, monitoring.node.ns, "envoy_udp_downstream_sess_rx_datagrams");
  const rxByNode = await monitoring.query(`sum by (instance) (envoy_udp_downstream_sess_rx_datagrams{job="${ENVOY_JOB}"})`);

  const port = Number(monitoring.gatewayTarget.split(":")[1]);
  const closed = uplinkProbes(lab, port);
  const opened = uplinkProbesOpened(lab, port);

  const picture = await drawDashboard(lab, monitoring, now);
  mkdirSync(dirname(picturePath), { recursive: true });
  writeFileSync(picturePath, renderDashboardPicture(picture));
  const drawn = picture.panels.filter((p) => p.series.some((s) => s.points.length > 0)).map((p) => p.title);
  const blank = picture.panels.filter((p) => !drawn.includes(p.title)).map((p) => p.title);

  const checks = {
    targetsUp: up(GATEWAY_JOB) === 1 && up(ENVOY_JOB) === [...lab.envoys.values()].reduce((n, e) => n + e.statsAddresses.length, 0),
    rulesLoaded: [...loaded].sort().join() === [...expectedAlerts].sort().join() && unhealthy.length === 0,
    mustFire: mustFire.every((a) => a.ok),
    silent: spoke.length === 0,
    dropsMatch: promDrops !== undefined && promDrops === fileDrops && fileDrops >= 3 && (dropIncrease ?? 0) >= 3,
    steeredMatch: promSteered !== undefined && promSteered === fileSteered,
    // Scenario c took one of the ingress nodes out of the map and put it back.
    removedNodeSeen: fewestTargets === lab.ingressNodes.length - 1 && mostTargets === lab.ingressNodes.length && (mapChanges ?? 0) >= 2,
    envoyMatch: promRx !== undefined && promRx === standinRx && standinRx > 0 && rxByNode.length === lab.envoys.size,
    // Dropped by the firewall (curl times out), and answered once the port is opened: the probes can see an open port.
    notFromUplink: closed.every((p) => p.status === 28) && opened.every((p) => p.status === 0),
    pictured: blank.length === 0,
  };
  return {
    id: "k",
    title: "Prometheus (Debian's) scraped the gateway's node exporter through the Kilo interface and the Envoy stats listeners: values match the scenarios, alerts fire and stay silent as they should, the port is closed to the uplink",
    passed: Object.values(checks).every(Boolean),
    numbers: [
      `targets up: gateway ${up(GATEWAY_JOB)} (${monitoring.gatewayTarget}), Envoy ${up(ENVOY_JOB)}; scrape every ${SCRAPE_INTERVAL_SECONDS} s for ${range}`,
      `alert rules loaded: ${loaded.length}/${expectedAlerts.length}, unhealthy: ${unhealthy.join("; ") || "none"}`,
      `must fire: ${mustFire.map((a) => `${a.name} ${a.ok ? "firing" : "NOT firing"}`).join(", ")}; must be silent: ${MUST_BE_SILENT.length - spoke.length}/${MUST_BE_SILENT.length} silent${spoke.length ? ` (spoke: ${spoke.join(", ")})` : ""}`,
      `forward drops from the uplink: Prometheus ${promDrops}, textfile ${fileDrops}, increase over the run ${dropIncrease}; steered datagrams: Prometheus ${promSteered}, textfile ${fileSteered}`,
      `steering targets over the run: min ${fewestTargets}, max ${mostTargets} (scenario c removed one of ${lab.ingressNodes.length}); map rewrites: ${mapChanges}`,
      `Envoy datagrams from devices: Prometheus ${promRx}, the stand-ins ${standinRx}; per node: ${rxByNode.map((s) => `${s.metric.instance}=${s.values[0][1]}`).join(" ")}`,
      `node exporter port from the uplink side: ${closed.map((p) => `${p.what}: curl exit ${p.status}`).join("; ")}`,
      `same probes with the port opened on purpose: ${opened.map((p) => `curl exit ${p.status}`).join(", ")} (0: answered)`,
      `dashboard picture: ${picturePath}; panels with data ${drawn.length}/${picture.panels.length}${blank.length ? ` (no data: ${blank.join(", ")})` : ""}`,
      `failed checks: ${Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name).join(", ") || "none"}`,
    ],
  };
}

/** The dashboard's panels from Prometheus's range queries over the run, its expressions with the lab's rate window. */
async function drawDashboard(lab: Lab, monitoring: LabMonitoring, end: number) {
  const dashboard = buildDashboard();
  const start = monitoring.startedSeconds;
  const step = Math.max(SCRAPE_INTERVAL_SECONDS, Math.ceil((end - start) / 300));
  const panels: PicturePanel[] = [];
  for (const panel of dashboard.panels) {
    const series = [];
    for (const target of panel.targets) {
      for (const s of await monitoring.queryRange(withRateWindow(target.expr, LAB_RATE_WINDOW), start, end, step)) {
        series.push({ legend: legendOf(target.legendFormat, s.metric), points: s.values });
      }
    }
    const threshold = panel.fieldConfig.defaults.thresholds?.steps.find((s) => s.value !== null)?.value ?? undefined;
    panels.push({ title: panel.title, unit: panel.fieldConfig.defaults.unit, threshold: threshold ?? undefined, series });
  }
  const date = new Date(end * 1000).toISOString().slice(0, 16).replace("T", " ");
  return {
    title: dashboard.title,
    caption: `Drawn from the lab's Prometheus (Debian's), run of ${date} UTC: ${lab.devices} devices, ${lab.ingressNodes.length} ingress nodes, every scenario; scrapes every ${SCRAPE_INTERVAL_SECONDS} s, the dashboard's [${RATE_WINDOW}] rate windows as [${LAB_RATE_WINDOW}]. Envoy is the lab's stand-in.`,
    from: start,
    to: end,
    panels,
  };
}
