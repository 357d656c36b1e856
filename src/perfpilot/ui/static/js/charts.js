// Time-series charts (uPlot) from GET /series buckets: avg line, min-max band, thresholds.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { api, formatValue } from "./lib.js";

function color(name, fallback) {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Downsampled buckets of one series over [since, until); `labels` filters (name -> value),
 * `groupBy` splits by a label (the answer's `groups`). */
export async function fetchSeries(serviceName, metricType, since, until, points, { labels = {}, groupBy } = {}) {
  const query = new URLSearchParams({
    serviceName, metricType, since: since.toISOString(), until: until.toISOString(),
    points: String(points),
  });
  for (const [name, value] of Object.entries(labels)) query.set(`labels[${name}]`, value);
  if (groupBy) query.set("groupBy", groupBy);
  const { data } = await api(`/series?${query}`);
  return data;
}

/** [since, until, points] for the last `seconds`: past a day, whole-minute buckets on a
 * whole-minute grid (at most `maxPoints`), which the server answers from its minute rollups. */
export function chartWindow(seconds, maxPoints = 600) {
  const now = Date.now();
  if (seconds < 86400) return [new Date(now - seconds * 1000), new Date(now), maxPoints];
  const width = Math.ceil(seconds / maxPoints / 60) * 60;
  const points = Math.ceil(seconds / width);
  const until = Math.ceil(now / 60000) * 60000;
  return [new Date(until - points * width * 1000), new Date(until), points];
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

const PALETTE = ["#1d5fd6", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#5c940d", "#c2255c"];

/** One average line per group (a label's values) over the same buckets grid. */
export function groupsChart(target, series, { thresholds = [], width, height = 220 } = {}) {
  const step = series.bucketSeconds;
  const start = Date.parse(series.since) / 1000;
  const indexOf = (b) => Math.round((Date.parse(b.start) / 1000 - start) / step);
  const used = new Set(series.groups.flatMap((g) => g.buckets.map(indexOf)));
  const slots = [...used].sort((a, b) => a - b);
  const xs = slots.map((i) => start + (i + 0.5) * step);
  const text = color("--fg-muted", "#555");
  const grid = color("--grid", "rgba(128,128,128,0.2)");
  const warn = color("--danger", "#dc2626");
  const type = series.metricType;
  const data = [xs];
  const opts = {
    width: width ?? Math.max(320, target.clientWidth || 640),
    height,
    scales: { x: { time: true, min: start, max: Date.parse(series.until) / 1000 } },
    axes: [
      { stroke: text, grid: { stroke: grid } },
      { stroke: text, grid: { stroke: grid }, size: 70, values: (u, ticks) => ticks.map((v) => formatValue(type, v)) },
    ],
    series: [{}],
  };
  series.groups.forEach((g, n) => {
    const byIndex = new Map(g.buckets.map((b) => [indexOf(b), b.avg]));
    data.push(slots.map((i) => byIndex.get(i) ?? null));
    opts.series.push({
      label: Object.values(g.labels).join(", "), stroke: PALETTE[n % PALETTE.length], width: 2,
      spanGaps: false, points: { show: false }, value: (u, v) => formatValue(type, v),
    });
  });
  for (const t of thresholds) {
    data.push(xs.map(() => t.value));
    opts.series.push({
      label: t.label, stroke: warn, dash: [6, 4], width: 1, points: { show: false },
      value: (u, v) => formatValue(type, v),
    });
  }
  return new uPlot(opts, data, target);
}
