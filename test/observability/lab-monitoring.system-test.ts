import { readFileSync } from "fs";
import { join } from "path";
import { renderAlertRules } from "../../infra/observability/alerts";
import { requireTool, run } from "../../harness/commands";
import { renderDashboardPicture } from "../../lab/dashboard-picture";
import { prometheusConfig } from "../../lab/monitoring";
import { promtool, withFiles } from "./support/promtool";

/*
 * What the lab's monitoring (scenario k) writes, checked by the tools of their own: the Prometheus configuration by
 * `promtool check config` (with the rendered rules it loads), the dashboard picture, the README's included, by an XML
 * parser (python3's expat).
 */

const README_PICTURE = join(__dirname, "..", "..", "docs", "dashboard-lab.svg");

function parseXml(text: string): { status: number | null; output: string } {
  requireTool("python3");
  const result = run("python3", ["-c", "import sys, xml.etree.ElementTree as ET; root = ET.fromstring(sys.stdin.read()); print(root.tag)"], text);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe("the lab's Prometheus configuration", () => {
  const rules = renderAlertRules({ maxConnections: 2000, steeringIntervalSeconds: 5, uplinkInterface: "iuilgu" });
  const config = (rulesFile: string) => prometheusConfig("10.5.0.1:9100", [{ node: "scw-lab-ingress-1", addresses: ["198.51.100.11:9902"] }], rulesFile);

  it("passes promtool check config, its rules file included", () =>
    withFiles({ "rules.yaml": rules }, (dir) => {
      withFiles({ "prometheus.yml": config(join(dir, "rules.yaml")) }, (configDir) => {
        const result = promtool(["check", "config", "prometheus.yml"], undefined, configDir);
        expect(result.output).toContain("SUCCESS: 1 rule files found");
        expect(result.output).toContain("SUCCESS: 9 rules found");
        expect(result.status).toBe(0);
      });
    }));

  it("fails promtool check config with a scrape interval Prometheus cannot parse", () =>
    withFiles({ "rules.yaml": rules }, (dir) => {
      withFiles({ "prometheus.yml": config(join(dir, "rules.yaml")).replace("scrape_interval: 1s", "scrape_interval: 1 second") }, (configDir) => {
        const result = promtool(["check", "config", "prometheus.yml"], undefined, configDir);
        expect(result.status).not.toBe(0);
      });
    }));
});

describe("the dashboard picture", () => {
  it("is well-formed SVG, the README's and a rendered one", () => {
    const rendered = renderDashboardPicture({ title: "a <b> & c", caption: "\"quoted\"", from: 0, to: 10, panels: [{ title: "x & y", unit: "pps", series: [{ legend: "<l>", points: [[0, 1], [10, 2]] }] }] });
    for (const svg of [readFileSync(README_PICTURE, "utf8"), rendered]) {
      expect(parseXml(svg)).toEqual({ status: 0, output: "{http://www.w3.org/2000/svg}svg" });
    }
  });

  it("a copy with an unescaped ampersand is refused by the parser", () => {
    const broken = renderDashboardPicture({ title: "t", caption: "c", from: 0, to: 1, panels: [] }).replace("<text class=\"dashboard-title\"", "<text & class=\"dashboard-title\"");
    expect(parseXml(broken).status).not.toBe(0);
  });
});
