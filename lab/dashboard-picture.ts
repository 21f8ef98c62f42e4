/**
 * A picture of the dashboard (infra/observability/dashboard.ts) drawn from a Prometheus's range queries, as SVG: one
 * panel per dashboard panel, in its order and with its title, one line per series, legends formatted as Grafana
 * formats `legendFormat`. No Grafana runs here, so this draws what Grafana would show from the same queries; the
 * README's picture is this, from a lab run.
 */
import { RATE_WINDOW } from "../infra/observability/dashboard";

export interface PictureSeries {
  legend: string;
  /** [unix seconds, value]; points that are not finite numbers (Prometheus's NaN) are left out. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface PicturePanel {
  title: string;
  unit: string;
  threshold?: number;
  series: readonly PictureSeries[];
}

export interface DashboardPicture {
  title: string;
  /** What the data is and where it comes from (shown under the title). */
  caption: string;
  from: number;
  to: number;
  panels: readonly PicturePanel[];
}

/** Grafana's legendFormat: `{{label}}` replaced by the series' label value (empty when the series lacks it). */
export function legendOf(format: string, metric: Readonly<Record<string, string>>): string {
  return format.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, label: string) => metric[label] ?? "").replace(/\s+/g, " ").trim();
}

/**
 * A dashboard expression with its rate window scaled for a Prometheus that scrapes every few seconds rather than every
 * minute (the lab's), so that a lab run of minutes shows its steps instead of one 5-minute average.
 */
export function withRateWindow(expr: string, window: string): string {
  return expr.split(`[${RATE_WINDOW}]`).join(`[${window}]`);
}

const WIDTH = 1240;
const MARGIN = 20;
const COLUMNS = 2;
const PANEL_W = (WIDTH - MARGIN * (COLUMNS + 1)) / COLUMNS;
const PLOT_H = 170;
const LEGEND_LINE = 15;
const MAX_LEGEND = 9;
const HEADER_H = 64;
const PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A value with the panel's unit, short: 1.2k/s, 3.4 MB/s, 95 s. */
export function formatValue(value: number, unit: string): string {
  const abs = Math.abs(value);
  const [scaled, suffix] = abs >= 1e9 ? [value / 1e9, "G"] : abs >= 1e6 ? [value / 1e6, "M"] : abs >= 1e3 ? [value / 1e3, "k"] : [value, ""];
  const digits = Math.abs(scaled) >= 100 || Number.isInteger(scaled) ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
  const number = `${scaled.toFixed(digits)}${suffix}`;
  switch (unit) {
    case "pps":
      return `${number}/s`;
    case "Bps":
      return `${number}B/s`;
    case "s":
      return `${number} s`;
    default:
      return number;
  }
}

function legendRows(panel: PicturePanel): number {
  return panel.series.length === 0 ? 1 : Math.min(panel.series.length, MAX_LEGEND) + (panel.series.length > MAX_LEGEND ? 1 : 0);
}

function panelHeight(panel: PicturePanel): number {
  return 30 + PLOT_H + 26 + legendRows(panel) * LEGEND_LINE + 10;
}

function drawPanel(panel: PicturePanel, x: number, y: number, height: number, from: number, to: number, colorOffset: number): string {
  const plotX = x + 64;
  const plotY = y + 30;
  const plotW = PANEL_W - 64 - 14;
  const finite = panel.series.map((s) => s.points.filter(([, v]) => Number.isFinite(v)));
  const values = finite.flat().map(([, v]) => v);
  const top = Math.max(panel.threshold ?? 0, ...values, 0);
  const yMax = top > 0 ? top * 1.1 : 1;
  const sx = (t: number) => plotX + ((t - from) / Math.max(1, to - from)) * plotW;
  const sy = (v: number) => plotY + PLOT_H - (Math.max(0, v) / yMax) * PLOT_H;
  const out: string[] = [];
  out.push(`<g class="panel">`);
  out.push(`<rect x="${x}" y="${y}" width="${PANEL_W}" height="${height}" rx="3" fill="#181b1f" stroke="#2c3235"/>`);
  out.push(`<text class="panel-title" x="${x + 10}" y="${y + 19}" font-size="13" font-weight="600" fill="#d8d9da">${escapeXml(panel.title)}</text>`);
  for (const fraction of [0, 0.5, 1]) {
    const v = yMax * fraction;
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#2c3235"/>`);
    out.push(`<text x="${plotX - 6}" y="${(sy(v) + 4).toFixed(1)}" font-size="10" fill="#9fa7b3" text-anchor="end">${escapeXml(formatValue(v, panel.unit))}</text>`);
  }
  const span = to - from;
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const t = from + span * fraction;
    out.push(`<text x="${sx(t).toFixed(1)}" y="${plotY + PLOT_H + 14}" font-size="10" fill="#9fa7b3" text-anchor="middle">${Math.round(t - from)} s</text>`);
  }
  if (panel.threshold !== undefined) {
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${sy(panel.threshold).toFixed(1)}" y2="${sy(panel.threshold).toFixed(1)}" stroke="#e24d42" stroke-dasharray="4 3"/>`);
  }
  finite.forEach((points, i) => {
    if (points.length === 0) return;
    const color = PALETTE[(i + colorOffset) % PALETTE.length];
    const path = points.map(([t, v]) => `${sx(t).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
    out.push(points.length === 1 ? `<circle cx="${sx(points[0][0]).toFixed(1)}" cy="${sy(points[0][1]).toFixed(1)}" r="2" fill="${color}"/>` : `<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${path}"/>`);
  });
  const legendY = plotY + PLOT_H + 32;
  if (panel.series.length === 0) {
    out.push(`<text class="no-data" x="${plotX + plotW / 2}" y="${plotY + PLOT_H / 2}" font-size="12" fill="#9fa7b3" text-anchor="middle">no data in this run</text>`);
    out.push(`<text x="${x + 10}" y="${legendY}" font-size="11" fill="#9fa7b3">(no series)</text>`);
  }
  panel.series.slice(0, MAX_LEGEND).forEach((series, i) => {
    const color = PALETTE[(i + colorOffset) % PALETTE.length];
    const last = [...finite[i]].reverse()[0];
    const ly = legendY + i * LEGEND_LINE;
    out.push(`<rect x="${x + 10}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
    out.push(`<text class="legend" x="${x + 26}" y="${ly}" font-size="11" fill="#d8d9da">${escapeXml(series.legend)}</text>`);
    out.push(`<text x="${x + PANEL_W - 10}" y="${ly}" font-size="11" fill="#9fa7b3" text-anchor="end">${last === undefined ? "no value" : `last ${escapeXml(formatValue(last[1], panel.unit))}`}</text>`);
  });
  if (panel.series.length > MAX_LEGEND) {
    out.push(`<text x="${x + 26}" y="${legendY + MAX_LEGEND * LEGEND_LINE}" font-size="11" fill="#9fa7b3">and ${panel.series.length - MAX_LEGEND} more series</text>`);
  }
  out.push(`</g>`);
  return out.join("\n");
}

/** The picture as an SVG document: panels two per row, in the dashboard's order. */
export function renderDashboardPicture(picture: DashboardPicture): string {
  const rows: PicturePanel[][] = [];
  picture.panels.forEach((panel, i) => (i % COLUMNS === 0 ? rows.push([panel]) : rows[rows.length - 1].push(panel)));
  const body: string[] = [];
  let y = HEADER_H;
  for (const row of rows) {
    const height = Math.max(...row.map(panelHeight));
    row.forEach((panel, column) => body.push(drawPanel(panel, MARGIN + column * (PANEL_W + MARGIN), y, height, picture.from, picture.to, column * 3)));
    y += height + MARGIN;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${y}" fill="#111217"/>`,
    `<text class="dashboard-title" x="${MARGIN}" y="28" font-size="18" font-weight="600" fill="#d8d9da">${escapeXml(picture.title)}</text>`,
    `<text x="${MARGIN}" y="48" font-size="11" fill="#9fa7b3">${escapeXml(picture.caption)}</text>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

/** The panel titles a picture shows, in order (what the tests compare with the dashboard's). */
export function pictureTitles(svg: string): string[] {
  const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&");
  return [...svg.matchAll(/<text class="panel-title"[^>]*>([^<]*)<\/text>/g)].map((m) => unescape(m[1]));
}
