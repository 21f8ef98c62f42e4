/**
 * Reading a Prometheus text exposition (a scrape of Envoy's /stats/prometheus, or the gateway's metrics textfile) and finding in it the
 * series an alert rule names: pure, so the unit tier checks it.
 */

/** One sample line: its metric name, labels and value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric name with label equalities, as written in a PromQL selector `name{a="b",c="d"}`. */
export interface Selector {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

const LABELS = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(LABELS)].map((m) => [m[1], m[2]]));
}

/** The samples of an exposition; throws on a line that is neither a comment nor a sample. */
export function parseExposition(text: string): Sample[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`not a sample line: ${line}`);
      const value = Number(match[3]);
      if (!Number.isFinite(value)) throw new Error(`not a number in: ${line}`);
      return { name: match[1], labels: labelsOf(match[2] ?? ""), value };
    });
}

/** The first selector with equality matchers in a PromQL expression (`increase(x{a="b"}[5m]) > 0` gives x{a="b"}). */
export function selectorIn(expr: string): Selector {
  const match = /([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(expr);
  if (match === null) throw new Error(`no name{labels} selector in: ${expr}`);
  return { name: match[1], labels: labelsOf(match[2]) };
}

/** The value of the one sample the selector matches; throws when none or several match. */
export function valueOf(samples: readonly Sample[], selector: Selector): number {
  const found = samples.filter((s) => s.name === selector.name && Object.entries(selector.labels).every(([k, v]) => s.labels[k] === v));
  const shown = `${selector.name}{${Object.entries(selector.labels).map(([k, v]) => `${k}="${v}"`).join(",")}}`;
  if (found.length !== 1) throw new Error(`${found.length} samples match ${shown}`);
  return found[0].value;
}
