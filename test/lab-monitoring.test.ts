import { existsSync, readFileSync } from "fs";
import { join } from "path";
import { parse } from "yaml";
import { buildDashboard, dashboardExpressions, RATE_WINDOW } from "../infra/observability/dashboard";
import { formatValue, legendOf, pictureTitles, renderDashboardPicture, withRateWindow, type DashboardPicture } from "../lab/dashboard-picture";
import { ENVOY_JOB, GATEWAY_JOB, prometheusConfig } from "../lab/monitoring";
import { LAB_RATE_WINDOW } from "../lab/monitoring-scenario";

/*
 * The pure parts of the lab's monitoring (scenario k): the Prometheus configuration it writes, the dashboard's queries
 * with the lab's rate window, Grafana's legend formatting, and the SVG picture, including the README's checked-in one.
 */

/** The picture the README shows, written by `npm run lab -- --picture docs/dashboard-lab.svg`. */
const README_PICTURE = join(__dirname, "..", "docs", "dashboard-lab.svg");

describe("lab/monitoring prometheusConfig", () => {
  const config = parse(prometheusConfig("10.5.0.1:9100", [{ node: "scw-lab-ingress-1", addresses: ["198.51.100.11:9902", "198.51.100.11:9903"] }, { node: "scw-lab-ingress-2", addresses: ["198.51.100.12:9902"] }], "/run/rules.yaml"));

  it("scrapes the gateway at its tunnel address and each Envoy stand-in worker under its node's name, and loads the rules", () => {
    expect(config).toStrictEqual({
      global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "1s" },
      rule_files: ["/run/rules.yaml"],
      scrape_configs: [
        { job_name: GATEWAY_JOB, static_configs: [{ targets: ["10.5.0.1:9100"] }] },
        {
          job_name: ENVOY_JOB,
          metrics_path: "/stats/prometheus",
          static_configs: [
            { targets: ["198.51.100.11:9902", "198.51.100.11:9903"], labels: { instance: "scw-lab-ingress-1" } },
            { targets: ["198.51.100.12:9902"], labels: { instance: "scw-lab-ingress-2" } },
          ],
        },
      ],
    });
  });
});

describe("lab/dashboard-picture", () => {
  it("formats legends as Grafana does: each {{label}} replaced, a missing label empty", () => {
    expect(legendOf("{{instance}} from devices", { instance: "scw-lab-ingress-1" })).toBe("scw-lab-ingress-1 from devices");
    expect(legendOf("{{ interface }} {{peer}} {{public_key}}", { interface: "wg-uplink", public_key: "abc=" })).toBe("wg-uplink abc=");
    expect(legendOf("nodes in the map", {})).toBe("nodes in the map");
  });

  it("replaces every rate window of a dashboard query and nothing else", () => {
    expect(withRateWindow(`sum(rate(a[${RATE_WINDOW}])) + rate(b[${RATE_WINDOW}])`, "15s")).toBe("sum(rate(a[15s])) + rate(b[15s])");
    expect(withRateWindow("changes(x[1h])", "15s")).toBe("changes(x[1h])");
    // Every windowed query of the dashboard is changed; the only other window left is the steering panel's hour.
    const left = dashboardExpressions(buildDashboard())
      .map((q) => withRateWindow(q.expr, LAB_RATE_WINDOW))
      .flatMap((expr) => [...expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]));
    expect([...new Set(left)].sort()).toStrictEqual(["15s", "1h"]);
  });

  it("formats values with the panel's unit", () => {
    expect(formatValue(1234, "pps")).toBe("1.23k/s");
    expect(formatValue(5_600_000, "Bps")).toBe("5.60MB/s");
    expect(formatValue(95, "s")).toBe("95 s");
    expect(formatValue(0.5, "short")).toBe("0.50");
    expect(formatValue(3, "short")).toBe("3");
  });

  const picture: DashboardPicture = {
    title: "IoT <UDP> ingress",
    caption: "test & caption",
    from: 1000,
    to: 1100,
    panels: [
      { title: "Datagrams in, per node", unit: "pps", series: [{ legend: "n1 from devices", points: [[1000, 0], [1050, 200], [1100, Number.NaN]] }, { legend: "n2 <b>", points: [[1000, 10]] }] },
      { title: "Handshake age", unit: "s", threshold: 180, series: [] },
      { title: "Third & last", unit: "short", series: Array.from({ length: 11 }, (_, i) => ({ legend: `s${i}`, points: [[1000, i], [1100, i]] as Array<[number, number]> })) },
    ],
  };
  const svg = renderDashboardPicture(picture);

  it("draws one panel per dashboard panel, titled and in order, with escaped text", () => {
    expect(pictureTitles(svg)).toStrictEqual(["Datagrams in, per node", "Handshake age", "Third & last"]);
    expect(svg).toContain("IoT &lt;UDP&gt; ingress");
    expect(svg).toContain("n2 &lt;b&gt;");
    expect(svg).not.toContain("<b>");
  });

  it("draws a line per series with two or more finite points, leaves NaN out, and says when a panel has no data", () => {
    // Panel 1: one line (the NaN point dropped, two left) and a dot; panel 3: eleven lines.
    expect(svg.match(/<polyline class="series"/g)).toHaveLength(1 + 11);
    expect(svg.match(/<circle /g)).toHaveLength(1);
    expect(svg.match(/class="no-data"/g)).toHaveLength(1);
    expect(svg).toContain("and 2 more series");
    expect(svg).toContain("last 200/s");
    // The threshold line of the handshake panel.
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(1);
  });

  it("the README's picture is of this dashboard: its panel titles, in order", () => {
    expect(existsSync(README_PICTURE)).toBe(true);
    const checkedIn = readFileSync(README_PICTURE, "utf8");
    expect(pictureTitles(checkedIn)).toStrictEqual(buildDashboard().panels.map((p) => p.title));
    // Drawn from a run, not a blank template: every panel has at least one line.
    expect(checkedIn.match(/class="no-data"/g)).toBeNull();
    expect(checkedIn.split('<g class="panel">').slice(1).every((panel) => panel.includes('class="series"'))).toBe(true);
  });

  it("a picture of another dashboard fails the title check", () => {
    const other = renderDashboardPicture({ ...picture, panels: picture.panels.slice(1) });
    expect(pictureTitles(other)).not.toStrictEqual(pictureTitles(svg));
  });
});
