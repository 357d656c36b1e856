// One service: charts per metric type over a chosen range with rule thresholds, the desired
// state, the action timeline (baseline vs measured) and open alerts.
import { chartWindow, fetchSeries, groupsChart, seriesChart } from "./charts.js";
import {
  alertsTable, announce, api, badge, clear, el, emptyState, formatPercent, formatTime,
  formatValue, liveEvents, metricsSnippet, throttle,
} from "./lib.js";

const name = document.body.dataset.service;
const path = encodeURIComponent(name);
const RANGES = { "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
const rangeSelect = document.getElementById("range");
const splitSelect = document.getElementById("split");
const filterInput = document.getElementById("label-filter");
const filterForm = document.getElementById("chart-controls");
const chartsBox = document.getElementById("charts");
const stateBox = document.getElementById("state");
const actionsBox = document.getElementById("actions");
const alertsBox = document.getElementById("service-alerts");
const statusBox = document.getElementById("service-status");
let detail = null;

async function loadDetail() {
  try {
    ({ data: detail } = await api(`/services/${path}`));
  } catch (error) {
    if (error.status === 404) {
      clear(chartsBox, emptyState(`No service named ${name}`, el("p", {}, "Push a sample for it first:"), metricsSnippet()));
      return false;
    }
    throw error;
  }
  clear(statusBox, badge(detail.status));
  const s = detail.state;
  clear(stateBox, el("dl", { class: "state" },
    el("dt", {}, "Instances"), el("dd", {}, String(s.instances)),
    el("dt", {}, "Model"), el("dd", {}, s.model ?? "—"),
    el("dt", {}, "Fallback"), el("dd", {}, s.fallbackActive ? `on (${s.fallbackModels.join(", ")})` : "off"),
    el("dt", {}, "Retry policy"), el("dd", {}, Object.keys(s.retryPolicy).length ? JSON.stringify(s.retryPolicy) : "default"),
    el("dt", {}, "Cache epoch"), el("dd", {}, String(s.cacheEpoch)),
    el("dt", {}, "Version"), el("dd", {}, `${s.version} (${formatTime(s.updatedAt)})`),
  ));
  clear(alertsBox, alertsTable(detail.openAlerts, { onChange: refreshPanels, showService: false })
    ?? el("p", { class: "muted" }, "No open alerts for this service."));
  return true;
}

async function loadActions() {
  const { data } = await api(`/actions?serviceName=${path}&limit=50`);
  if (data.length === 0) {
    clear(actionsBox, el("p", { class: "muted" }, "No actions yet. A firing rule's action, the autoscaler or /optimize records one here, with its measured impact."));
    return;
  }
  clear(actionsBox, el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ["When", "Action", "Source", "Status", "Baseline", "Measured", "Impact", "Outcome"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, data.map((a) => el("tr", { dataset: { actionId: a.id } },
      el("td", {}, formatTime(a.executedAt)),
      el("td", {}, a.type, " ", el("span", { class: "muted" }, JSON.stringify(a.parameters))),
      el("td", {}, a.source),
      el("td", {}, badge(a.status)),
      el("td", { class: "num" }, formatValue(a.metricType, a.baseline)),
      el("td", { class: "num" }, formatValue(a.metricType, a.measuredValue)),
      el("td", { class: "num" }, formatPercent(a.measuredImpact)),
      el("td", {}, a.outcome ? badge(a.outcome) : el("span", { class: "muted" }, "measuring…")),
    )))));
}

async function loadCharts() {
  const types = Object.keys(detail.latest).sort();
  if (types.length === 0) {
    clear(chartsBox, emptyState("No metrics yet", metricsSnippet()));
    return;
  }
  const seconds = RANGES[rangeSelect.value] ?? 3600;
  const [since, until, points] = chartWindow(seconds);
  const labels = labelFilter();
  if (labels === null) return;
  const groupBy = splitSelect.value || undefined;
  const { data: rules } = await api(`/rules?serviceName=${path}`);
  const { data: global } = await api("/rules");
  const all = [...rules, ...global.filter((r) => r.serviceName === null)];
  const figures = types.map((type) => {
    const plot = el("div", { class: "chart", role: "img", "aria-label": `${type} of ${name}` });
    return { type, plot, figure: el("figure", { class: "chart-box" }, el("figcaption", {}, type.replace("_", " ")), plot) };
  });
  clear(chartsBox, figures.map((f) => f.figure));
  await Promise.all(figures.map(async ({ type, plot }) => {
    const series = await fetchSeries(name, type, since, until, points, { labels, groupBy });
    plot.dataset.source = series.source;
    if (series.buckets.length === 0) {
      plot.append(el("p", { class: "muted" }, Object.keys(labels).length
        ? "No samples with these labels in this range." : "No samples in this range."));
      return;
    }
    const thresholds = all
      .filter((r) => r.isActive && r.condition?.metric === type)
      .map((r) => ({ label: r.name, value: r.condition.threshold }));
    if (groupBy && series.groups.length === 0) {
      plot.append(el("p", { class: "muted" }, `No ${type} samples carry the label ${groupBy}: showing them all.`));
    }
    if (groupBy && series.groups.length > 0) groupsChart(plot, series, { thresholds });
    else seriesChart(plot, series, { thresholds });
  }));
}

async function refreshPanels() {
  try {
    if (await loadDetail()) await loadActions();
  } catch (error) {
    announce(`Could not load ${name}: ${error.message}`, "error");
  }
}

async function load() {
  try {
    if (!(await loadDetail())) return;
    await Promise.all([loadCharts(), loadActions()]);
  } catch (error) {
    announce(`Could not load ${name}: ${error.message}`, "error");
  }
}

/** The filter box as {name: value}: `model=gpt-4, region=eu`; null (and a message) when bad. */
function labelFilter() {
  const labels = {};
  filterInput.removeAttribute("aria-invalid");
  for (const part of filterInput.value.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, ...rest] = part.split("=");
    if (!key.trim() || rest.length === 0) {
      filterInput.setAttribute("aria-invalid", "true");
      announce(`Label filter "${part}": write name=value, e.g. model=gpt-4`, "error");
      return null;
    }
    labels[key.trim()] = rest.join("=").trim();
  }
  return labels;
}

async function redraw() {
  try {
    announce("");
    await loadCharts();
  } catch (error) {
    if (error.status === 422) filterInput.setAttribute("aria-invalid", "true");
    announce(`Could not draw the charts: ${error.message}`, "error");
  }
}

rangeSelect.addEventListener("change", redraw);
splitSelect.addEventListener("change", redraw);
filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  redraw();
});
await load();
const soon = throttle(refreshPanels, 1000);
liveEvents({
  "alert.fired": soon, "alert.resolved": soon, "alert.acknowledged": soon,
  "action.executed": soon, "action.skipped": soon, "action.failed": soon, "action.dry_run": soon,
}, { serviceName: name });
// measurements land a settle time after each action: look again now and then
setInterval(() => loadActions().catch(() => {}), 15000);
