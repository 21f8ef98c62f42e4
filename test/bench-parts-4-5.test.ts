import { readFileSync } from "fs";
import { join } from "path";
import { parseExposition, selectorIn, valueOf } from "../harness/prometheus-exposition";
import { decoderUnready, lossWindowMs, parseTimerLog, recoveryOf, seconds, unitDirective, withoutEnvoyPod } from "../bench/recovery-logic";
import { BUDGET_PHASES, newDevicesPast, parseResults, RECOVERY_CHANGES, renderResultsFile, renderTables, type BenchResults, type Spread } from "../bench/tables";
import { steeringAgentTimerUnit } from "../infra/gateway";
import { buildAlertRules } from "../infra/observability/alerts";
import type { ApiState } from "../lab/api-state";

/*
 * The pure parts of the bench's parts 4 and 5: reading Envoy's Prometheus exposition and the series an alert names,
 * the API states of a node leaving, the timer loop's log, what a stream tells of one change, and the rendering of the
 * two tables (read back by the parser the committed results file is checked with).
 */

const one = (value: number): Spread => ({ median: value, min: value, max: value });

describe("harness/prometheus-exposition", () => {
  const exposition = [
    "# TYPE envoy_cluster_upstream_cx_overflow counter",
    'envoy_cluster_upstream_cx_overflow{envoy_cluster_name="decoder"} 3750',
    'envoy_cluster_upstream_cx_overflow{envoy_cluster_name="envoy_admin"} 0',
    "# TYPE envoy_udp_downstream_sess_active gauge",
    'envoy_udp_downstream_sess_active{envoy_udp_prefix="iot_udp"} 18750',
    "process_start 12",
    "",
  ].join("\n");

  it("reads samples with their labels", () => {
    expect(parseExposition(exposition)).toStrictEqual([
      { name: "envoy_cluster_upstream_cx_overflow", labels: { envoy_cluster_name: "decoder" }, value: 3750 },
      { name: "envoy_cluster_upstream_cx_overflow", labels: { envoy_cluster_name: "envoy_admin" }, value: 0 },
      { name: "envoy_udp_downstream_sess_active", labels: { envoy_udp_prefix: "iot_udp" }, value: 18750 },
      { name: "process_start", labels: {}, value: 12 },
    ]);
  });

  it("rejects a line that is not a sample", () => {
    expect(() => parseExposition("envoy_x{a=\"b\"}\n")).toThrow(/not a sample line/);
    expect(() => parseExposition("envoy_x NaNx\n")).toThrow(/not a number/);
  });

  it("finds the series the rendered alert rules name, and its one sample", () => {
    const rules = buildAlertRules({ maxConnections: 18750, steeringIntervalSeconds: 5, uplinkInterface: "wg-uplink" }).groups.flatMap((g) => g.rules);
    const overflow = selectorIn(rules.find((r) => r.alert === "IotIngressSessionOverflow")!.expr);
    const active = selectorIn(rules.find((r) => r.alert === "IotIngressSessionsNearBudget")!.expr);
    expect(overflow).toStrictEqual({ name: "envoy_cluster_upstream_cx_overflow", labels: { envoy_cluster_name: "decoder" } });
    expect(active).toStrictEqual({ name: "envoy_udp_downstream_sess_active", labels: { envoy_udp_prefix: "iot_udp" } });
    const samples = parseExposition(exposition);
    expect(valueOf(samples, overflow)).toBe(3750);
    expect(valueOf(samples, active)).toBe(18750);
  });

  it("fails when no sample or several match", () => {
    const samples = parseExposition(exposition);
    expect(() => valueOf(samples, { name: "envoy_cluster_upstream_cx_overflow", labels: {} })).toThrow('2 samples match envoy_cluster_upstream_cx_overflow{}');
    expect(() => valueOf(samples, { name: "envoy_cluster_upstream_cx_overflow", labels: { envoy_cluster_name: "other" } })).toThrow(/^0 samples match/);
    expect(() => selectorIn("up > 0")).toThrow(/no name\{labels\} selector/);
  });
});

describe("bench/recovery-logic", () => {
  const state: ApiState = {
    nodes: { apiVersion: "v1", kind: "NodeList", items: [{ metadata: { name: "a" } }, { metadata: { name: "b" } }] },
    envoyPods: { apiVersion: "v1", kind: "PodList", items: [{ metadata: { name: "envoy-a" }, spec: { nodeName: "a" } }, { metadata: { name: "envoy-b" }, spec: { nodeName: "b" } }] },
    decoderSlices: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSliceList",
      items: [
        {
          metadata: { name: "s", namespace: "d" },
          addressType: "IPv4",
          endpoints: [
            { addresses: ["100.64.1.10"], conditions: { ready: true }, nodeName: "a" },
            { addresses: ["100.64.2.10"], nodeName: "b" },
          ],
          ports: [],
        },
      ],
    },
  };

  it("turns one node's decoder endpoints not ready and leaves the rest", () => {
    const changed = decoderUnready(state, "b");
    expect(changed.decoderSlices.items[0].endpoints).toStrictEqual([
      { addresses: ["100.64.1.10"], conditions: { ready: true }, nodeName: "a" },
      { addresses: ["100.64.2.10"], conditions: { ready: false }, nodeName: "b" },
    ]);
    expect(changed.envoyPods).toBe(state.envoyPods);
    expect(state.decoderSlices.items[0].endpoints[1]).toStrictEqual({ addresses: ["100.64.2.10"], nodeName: "b" });
  });

  it("removes one node's Envoy pod only", () => {
    expect(withoutEnvoyPod(state, "a").envoyPods.items).toStrictEqual([{ metadata: { name: "envoy-b" }, spec: { nodeName: "b" } }]);
    expect(withoutEnvoyPod(state, "c").envoyPods.items).toHaveLength(2);
  });

  it("reads the timer loop's log and rejects anything else", () => {
    expect(parseTimerLog("run 100.5 101.25 0 applied steering to: a=1|done\nrun 105.5 106 3 \n")).toStrictEqual([
      { start: 100.5, end: 101.25, status: 0, output: "applied steering to: a=1\ndone" },
      { start: 105.5, end: 106, status: 3, output: "" },
    ]);
    expect(() => parseTimerLog("start 1\n")).toThrow(/not a timer log line/);
  });

  it("takes the timer's period and accuracy from the rendered unit", () => {
    const unit = steeringAgentTimerUnit({ steering: { intervalSeconds: 5 } } as Parameters<typeof steeringAgentTimerUnit>[0]);
    expect(seconds(unitDirective(unit, "Timer", "OnUnitActiveSec"))).toBe(5);
    expect(seconds(unitDirective(unit, "Timer", "AccuracySec"))).toBe(1);
    expect(() => unitDirective(unit, "Timer", "OnCalendar")).toThrow("iot-steering-agent.timer has no Timer.OnCalendar");
    expect(() => seconds("5min")).toThrow(/not a time span in seconds/);
  });

  it("measures the longest run of consecutive lossy buckets", () => {
    const sent = new Map([[10, 5], [11, 5], [12, 5], [13, 5], [15, 5], [16, 5]]);
    expect(lossWindowMs(sent, new Map([[10, 5], [11, 4], [12, 0], [13, 5], [15, 4], [16, 5]]), 100)).toBe(200);
    // A gap in the buckets ends a run.
    expect(lossWindowMs(new Map([[1, 2], [3, 2]]), new Map(), 100)).toBe(100);
    expect(lossWindowMs(sent, sent, 100)).toBe(0);
  });

  const t0 = 1_000_000;
  const runs = parseTimerLog(
    [
      "run 995 996 0 ",
      "run 1001 1002.5 0 applied steering to: a=100.64.1.1 b=100.64.2.1",
      "run 1006 1007.25 0 applied steering to: a=100.64.1.1",
      "run 1011 1012 0 ",
    ].join("\n"),
  );

  it("times a leave from the change to the map without the node and to its last device elsewhere", () => {
    const arrivals = new Map([
      ["b", new Map([[1, 999_000], [2, 999_500]])],
      ["a", new Map([[1, 1_007_400], [2, 1_007_900], [3, 999_000]])],
    ]);
    expect(recoveryOf({ left: "b", t0Ms: t0, arrivals, runs })).toStrictEqual({ onNode: 2, mapMs: 7250, lastDeviceMs: 7900, moved: 2, mapChanges: 2 });
  });

  it("says so when the map never left the node or a device never moved", () => {
    const arrivals = new Map([["b", new Map([[1, 999_000], [2, 999_500]])], ["a", new Map([[1, 1_003_000]])]]);
    const stale = parseTimerLog("run 1001 1002 0 applied steering to: a=1 b=2\n");
    expect(recoveryOf({ left: "b", t0Ms: t0, arrivals, runs: stale })).toStrictEqual({ onNode: 2, mapMs: undefined, lastDeviceMs: 3000, moved: 1, mapChanges: 1 });
  });

  it("counts for a renumbering the devices seen on two nodes and the map rewrites after the change", () => {
    const arrivals = new Map([["a", new Map([[1, 1], [2, 1]])], ["b", new Map([[2, 1], [3, 1]])]]);
    expect(recoveryOf({ left: undefined, t0Ms: t0, arrivals, runs: runs.slice(0, 1) })).toStrictEqual({ onNode: 0, mapMs: undefined, lastDeviceMs: undefined, moved: 1, mapChanges: 0 });
  });
});

describe("the tables of parts 4 and 5", () => {
  const base = parseResults(readFileSync(join(__dirname, "..", "bench", "results.md"), "utf8"));
  const results: BenchResults = {
    ...base,
    recovery: {
      node: "scw-lab-ingress-2",
      intervalSeconds: 5,
      accuracySeconds: 1,
      agentMs: { median: 2487, min: 1112, max: 7046 },
      devices: 2000,
      rate: 2000,
      rows: RECOVERY_CHANGES.map(({ id }) =>
        id.startsWith("kilo")
          ? { id, onNode: undefined, mapMs: undefined, lastDeviceMs: undefined, moved: one(0), mapChanges: one(0), lost: { median: 6854, min: 6000, max: 7000 }, lostPercent: one(20.16), lossWindowMs: one(3800) }
          : { id, onNode: one(658), mapMs: { median: 7215, min: 5000, max: 8000 }, lastDeviceMs: one(6885), moved: one(658), mapChanges: one(1), lost: one(4156), lostPercent: one(9.03), lossWindowMs: one(5900) },
      ),
    },
    budget: {
      stack: "prod",
      rendered: 18750,
      newDevices: newDevicesPast(18750),
      nearBudget: 15000,
      nearBudgetShown: true,
      rows: BUDGET_PHASES.map(({ id }) => ({
        id,
        held: one(id === "past-budget" ? 18750 : 0),
        sent: one(id === "past-budget" ? 41250 : id === "at-budget" ? 18750 : 1875),
        delivered: one(id === "past-budget" ? 37500 : id === "at-budget" ? 18750 : 1875),
        dropped: one(id === "past-budget" ? 3750 : 0),
        droppedHeld: one(0),
        overflow: one(id === "past-budget" ? 3750 : 0),
        sessions: one(id === "past-budget" ? 0 : id === "at-budget" ? 18750 : 1875),
        active: one(id === "after-idle" ? 1875 : 18750),
        remaining: one(id === "after-idle" ? 16875 : 0),
      })),
    },
  };
  const rendered = renderTables(results);
  const file = renderResultsFile(results);
  const lines = file.split("\n");

  it("renders the rows, a count alike in every repetition once, and a missing figure as a dash", () => {
    expect(newDevicesPast(18750)).toBe(1875);
    expect(lines).toContain(
      "| the node's decoder stops being ready | 658 (658–658) | 7,215 (5,000–8,000) | 6,885 (6,885–6,885) | 658 | 1 | 4,156 (4,156–4,156) | 9.03 (9.03–9.03) | 5,900 (5,900–5,900) |",
    );
    expect(lines).toContain("| Kilo renumbering: it leaves again | — | — | — | 0 | 0 | 6,854 (6,000–7,000) | 20.16 (20.16–20.16) | 3,800 (3,800–3,800) |");
    expect(lines).toContain(
      "| 2. past it: the same devices and the new ones, two datagrams each, in turn | 18,750 | 41,250 | 37,500 | 3,750 | 0 | 3,750 | 0 | 18,750 | 0 |",
    );
    expect(lines).toContain("max_connections 18,750, as the prod stack renders it into the Envoy bootstrap, held unscaled; devices past it: 1,875.");
  });

  it("states the verdicts from the figures", () => {
    expect(rendered).toContain(
      "Bound for a leave: the timer's longest wait, OnUnitActiveSec + AccuracySec, plus the slowest agent run: 13,046 ms. The map without the node came at most 8,000 ms after the change (within it); the last of its devices arrived on another node at most 6,885 ms after it, every one of them. Renumbering: no device changed node and the map was never rewritten; the longest lossy stretch was 3,800 ms (within one steering interval).",
    );
    expect(rendered).toMatch(/^Shown in every repetition: past the budget exactly the datagrams/m);
    const overflowed: BenchResults = {
      ...results,
      budget: { ...results.budget!, rows: results.budget!.rows.map((row) => (row.id === "past-budget" ? { ...row, droppedHeld: one(3) } : row)) },
    };
    expect(renderTables(overflowed)).toMatch(/^Not shown in every repetition: /m);
  });

  it("reads back what it renders", () => {
    const back = parseResults(file);
    expect(back.recovery).toStrictEqual(results.recovery);
    expect(back.budget).toStrictEqual(results.budget);
    expect(renderTables(back)).toBe(rendered);
  });

  it("rejects a section that lost a row or a column", () => {
    const kiloRow = lines.findIndex((line) => line.startsWith("| Kilo renumbering: a node"));
    expect(() => parseResults(lines.filter((_, i) => i !== kiloRow).join("\n"))).toThrow(/recovery rows are/);
    const phaseRow = lines.findIndex((line) => line.startsWith("| 3. after"));
    expect(() => parseResults(lines.map((line, i) => (i === phaseRow ? line.replace(/ \| [^|]+ \|$/, " |") : line)).join("\n"))).toThrow(/cells/);
    const first = lines.findIndex((line) => line.startsWith("max_connections "));
    expect(() => parseResults(lines.map((line, i) => (i === first ? line.replace("prod stack", "prod  stack") : line)).join("\n"))).toThrow(/Session budget line not as rendered/);
  });
});
