import fc from "fast-check";
import { readFileSync } from "fs";
import { join } from "path";
import {
  BUDGET_PHASES,
  EDS_SIZES,
  RECOVERY_CHANGES,
  GATEWAY_CASES,
  STEERING_SIZES,
  extractTables,
  formats,
  parseNumber,
  parseResults,
  renderResultsFile,
  renderTables,
  type Spread,
} from "../bench/tables";

/*
 * bench/results.md is written by `npm run bench` (bench/main.ts) and never by hand. These checks do not run the bench:
 * they read the committed file back with the renderer's own parser and check that rendering it again gives the
 * file byte for byte, so a change to the tables' shape, headings, notes or number formats fails here until the
 * bench is run again.
 */

const RESULTS_FILE = join(__dirname, "..", "bench", "results.md");
const text = readFileSync(RESULTS_FILE, "utf8");

describe("bench/results.md", () => {
  const results = parseResults(text);

  it("is exactly what the current renderer writes for the results it holds", () => {
    expect(renderResultsFile(results)).toBe(text);
    expect(extractTables(text)).toBe(renderTables(results));
  });

  it("holds every row of the bench's matrix, in order", () => {
    expect(results.gateway.map((row) => row.id)).toStrictEqual(GATEWAY_CASES.map((c) => c.id));
    expect(results.steering.map(({ nodes, perNode, buckets }) => ({ nodes, perNode, buckets }))).toStrictEqual(STEERING_SIZES);
    expect(results.eds.map(({ endpoints, local }) => ({ endpoints, local }))).toStrictEqual(EDS_SIZES);
    expect(results.recovery?.rows.map((row) => row.id)).toStrictEqual(RECOVERY_CHANGES.map((c) => c.id));
    expect(results.budget?.rows.map((row) => row.id)).toStrictEqual(BUDGET_PHASES.map((p) => p.id));
  });

  it("holds recovery and budget measurements: a leave timed for every repetition, the budget the prod stack renders", () => {
    const recovery = results.recovery!;
    for (const row of recovery.rows.filter((r) => r.id === "decoder" || r.id === "envoy")) {
      expect({ id: row.id, timed: row.mapMs !== undefined && row.mapMs.min > 0 && row.lastDeviceMs !== undefined && row.onNode !== undefined }).toStrictEqual({ id: row.id, timed: true });
    }
    expect(recovery.intervalSeconds).toBe(5);
    expect(results.budget!.rendered).toBe(18750);
  });

  it("comes from a full run: every part, the default matrix", () => {
    expect(results.run.command).toMatch(/^npm run bench( -- --reps \d+)?$/);
    expect(results.run.repetitions).toBeGreaterThanOrEqual(1);
    expect(results.machine.cpus).toBeGreaterThanOrEqual(1);
  });

  it("holds measurements: positive figures, each median within its range", () => {
    const spreads: Array<[string, Spread]> = [
      ...results.gateway.flatMap((row) => [
        [`${row.id} bare`, row.bare],
        [`${row.id} ruleset`, row.ruleset],
        [`${row.id} ratio`, row.ratio],
        [`${row.id} reference ratio`, row.referenceRatio],
      ] as Array<[string, Spread]>),
      ...results.steering.flatMap((row) => {
        const key = `${row.nodes}x${row.perNode}@${row.buckets}`;
        return [
          [`${key} decision`, row.decisionMs],
          [`${key} decision memory`, row.decisionMb],
          [`${key} agent`, row.agentMs],
          [`${key} agent memory`, row.agentMb],
          [`${key} apply`, row.applyMs],
        ] as Array<[string, Spread]>;
      }),
      ...results.eds.flatMap((row) => {
        const key = `${row.endpoints}/${row.local}`;
        return [
          [`${key} start`, row.startMs],
          [`${key} change`, row.changeMs],
          [`${key} resident`, row.rssMb],
          [`${key} peak`, row.peakMb],
        ] as Array<[string, Spread]>;
      }),
    ];
    for (const [what, s] of spreads) {
      expect({ what, positive: s.min > 0, ordered: s.min <= s.median && s.median <= s.max }).toStrictEqual({ what, positive: true, ordered: true });
    }
  });

  it("rejects a file whose tables lost a row or a column", () => {
    const lines = text.split("\n");
    const gatewayRow = lines.findIndex((line) => line.startsWith("| 256 buckets |"));
    expect(() => parseResults([...lines.slice(0, gatewayRow), ...lines.slice(gatewayRow + 1)].join("\n"))).toThrow(/gateway rows/);
    const steeringRow = lines.findIndex((line) => line.startsWith("| 3 | 1 | 256 |"));
    const cut = lines.map((line, i) => (i === steeringRow ? line.replace(/ \| [^|]+ \|$/, " |") : line));
    expect(() => parseResults(cut.join("\n"))).toThrow(/cells/);
  });
});

describe("the tables' number formats", () => {
  it.each(Object.keys(formats) as Array<keyof typeof formats>)("%s gives the same text after a parse and a format again", (name) => {
    const format = formats[name];
    fc.assert(
      fc.property(fc.double({ min: -1e7, max: 1e7, noNaN: true }), (value) => {
        const shown = format(value);
        expect(format(parseNumber(shown))).toBe(shown);
      }),
    );
  });
});
