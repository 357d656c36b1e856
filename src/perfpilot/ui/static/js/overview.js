// Overview: every service with its status, latest values, a sparkline and open alerts,
// kept current by the live event stream (no reload).
import { sparkline, fetchSeries } from "./charts.js";
import {
  alertsTable, api, badge, clear, el, emptyState, formatValue, liveEvents, metricsSnippet,
  throttle, announce,
} from "./lib.js";

const servicesBox = document.getElementById("services");
const alertsBox = document.getElementById("open-alerts");
const COLUMNS = [["latency", "Latency"], ["error_rate", "Error rate"], ["cost", "Cost"]];
const rows = new Map(); // serviceName -> {cells}

function camel(type) {
  return type.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

async function loadServices() {
  const { data } = await api("/realtime?limit=200");
  rows.clear();
  if (data.length === 0) {
    clear(servicesBox, emptyState(
      "No services yet",
      el("p", {}, "Push a first sample and the service appears here at once, for example:"),
      metricsSnippet(),
      el("p", {}, "Or start the simulated demo service with ", el("code", {}, "perfpilot serve --demo"), "."),
    ));
    return;
  }
  const body = el("tbody");
  for (const view of data) {
    const cells = {};
    const spark = el("td", { class: "spark", "aria-label": `Latency of ${view.serviceName}, last hour` });
    const tr = el("tr", { dataset: { service: view.serviceName } },
      el("th", { scope: "row" }, el("a", { href: `/ui/services/${encodeURIComponent(view.serviceName)}` }, view.serviceName)),
      cells.status = el("td", {}, badge(view.status)),
      COLUMNS.map(([type]) => (cells[type] = el("td", { class: "num", dataset: { metric: type } }, formatValue(type, view.metrics[camel(type)])))),
      spark,
      cells.alerts = el("td", { class: "num" }, String(view.openAlerts)),
    );
    rows.set(view.serviceName, cells);
    body.append(tr);
    const until = new Date();
    fetchSeries(view.serviceName, "latency", new Date(until - 3600e3), until, 60)
      .then((series) => (series.buckets.length ? sparkline(spark, series) : spark.append("—")))
      .catch(() => spark.append("—"));
  }
  clear(servicesBox, el("table", { class: "table services" },
    el("caption", { class: "sr-only" }, "Services"),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Service"), el("th", { scope: "col" }, "Status"),
      COLUMNS.map(([, label]) => el("th", { scope: "col" }, label)),
      el("th", { scope: "col" }, "Latency, 1 h"), el("th", { scope: "col" }, "Open alerts"))),
    body));
}

async function loadAlerts() {
  const [active, acknowledged] = await Promise.all([
    api("/alerts?status=active&limit=100"), api("/alerts?status=acknowledged&limit=100"),
  ]);
  const open = [...active.data, ...acknowledged.data];
  const table = alertsTable(open, { onChange: refresh });
  clear(alertsBox, table ?? emptyState("No open alerts", el("p", {}, "Alerts appear here the moment a rule fires. ",
    el("a", { href: "/ui/rules" }, "Create a rule"), " to watch a metric.")));
}

async function refresh() {
  try {
    await Promise.all([loadServices(), loadAlerts()]);
  } catch (error) {
    announce(`Could not load the overview: ${error.message}`, "error");
  }
}

const refreshSoon = throttle(refresh, 1000);

function onMetrics(payload) {
  const cells = rows.get(payload.serviceName);
  if (!cells) {
    refreshSoon(); // a new service
    return;
  }
  for (const [type] of COLUMNS) {
    const m = payload.metrics[camel(type)];
    if (m) cells[type].textContent = formatValue(type, m.last);
  }
}

await refresh();
liveEvents({
  metrics: onMetrics,
  "alert.fired": refreshSoon,
  "alert.resolved": refreshSoon,
  "alert.acknowledged": refreshSoon,
});
