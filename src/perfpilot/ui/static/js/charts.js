// Time-series charts (uPlot) from GET /series buckets: avg line, min-max band, thresholds.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { api, formatValue } from "./lib.js";

function color(name, fallback) {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Downsampled buckets of one series over [since, until). */
export async function fetchSeries(serviceName, metricType, since, until, points) {
  const query = new URLSearchParams({
    serviceName, metricType, since: since.toISOString(), until: until.toISOString(),
    points: String(points),
  });
  const { data } = await api(`/series?${query}`);
  return data;
}

function columns(series) {
  const xs = [], avg = [], lo = [], hi = [];
  for (const b of series.buckets) {
    xs.push(Date.parse(b.start) / 1000 + series.bucketSeconds / 2);
    avg.push(b.avg);
    lo.push(b.min);
    hi.push(b.max);
  }
  return { xs, avg, lo, hi };
}

/** A small chart without axes, for tables; returns the uPlot instance. */
export function sparkline(target, series, { width = 160, height = 36 } = {}) {
  const { xs, avg } = columns(series);
  const stroke = color("--accent", "#2563eb");
  return new uPlot({
    width, height,
    cursor: { show: false },
    legend: { show: false },
    scales: { x: { time: true, min: Date.parse(series.since) / 1000, max: Date.parse(series.until) / 1000 } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke, width: 1.5, points: { show: false } }],
  }, [xs, avg], target);
}

/** A full chart: avg line over the min..max band, and a dashed line per threshold. */
export function seriesChart(target, series, { thresholds = [], width, height = 220 } = {}) {
  const { xs, avg, lo, hi } = columns(series);
  const accent = color("--accent", "#2563eb");
  const band = color("--band", "rgba(37,99,235,0.15)");
  const text = color("--fg-muted", "#555");
  const grid = color("--grid", "rgba(128,128,128,0.2)");
  const warn = color("--danger", "#dc2626");
  const type = series.metricType;
  const data = [xs, hi, lo, avg];
  const opts = {
    width: width ?? Math.max(320, target.clientWidth || 640),
    height,
    scales: { x: { time: true, min: Date.parse(series.since) / 1000, max: Date.parse(series.until) / 1000 } },
    axes: [
      { stroke: text, grid: { stroke: grid } },
      { stroke: text, grid: { stroke: grid }, size: 70, values: (u, ticks) => ticks.map((v) => formatValue(type, v)) },
    ],
    series: [
      {},
      { label: "max", stroke: band, fill: band, points: { show: false }, value: (u, v) => formatValue(type, v) },
      { label: "min", stroke: band, points: { show: false }, value: (u, v) => formatValue(type, v) },
      { label: "avg", stroke: accent, width: 2, points: { show: false }, value: (u, v) => formatValue(type, v) },
    ],
    bands: [{ series: [1, 2], fill: band }],
  };
  for (const t of thresholds) {
    data.push(xs.length ? xs.map(() => t.value) : []);
    opts.series.push({
      label: t.label, stroke: warn, dash: [6, 4], width: 1, points: { show: false },
      value: (u, v) => formatValue(type, v),
    });
  }
  return new uPlot(opts, data, target);
}
