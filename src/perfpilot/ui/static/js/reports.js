// Reports: generate (operators), list, view one, download it as CSV. Every figure shown is the
// stored report's, as GET /reports/:id returns it; nothing is recomputed here.
import {
  announce, api, ApiError, badge, canOperate, clear, clearFieldErrors, el, emptyState,
  formatPercent, formatTime, formatValue, showFieldErrors,
} from "./lib.js";

const form = document.getElementById("report-form");
const formErrors = document.getElementById("report-form-errors");
const filters = document.getElementById("report-filters");
const listBox = document.getElementById("reports");
const viewSection = document.getElementById("report-view");
const viewBox = document.getElementById("report");

// summary field -> [label, metric type whose unit formats it]
const FIGURES = [
  ["totalRequests", "Total requests", null],
  ["averageThroughput", "Average throughput", "throughput"],
  ["averageLatency", "Average latency", "latency"],
  ["latencyP50", "Latency p50", "latency"],
  ["latencyP95", "Latency p95", "latency"],
  ["latencyP99", "Latency p99", "latency"],
  ["errorRate", "Error rate", "error_rate"],
  ["successRate", "Success rate", "success_rate"],
  ["averageAccuracy", "Average accuracy", "accuracy"],
  ["totalCost", "Total cost", "cost"],
  ["averageCpu", "Average CPU", "cpu"],
  ["averageMemory", "Average memory", "memory"],
];

function csvHref(report) {
  return `/ui/api/reports/${report.id}?format=csv`;
}

async function loadList() {
  const query = new URLSearchParams({ limit: "50" });
  for (const [key, value] of new FormData(filters)) if (value) query.set(key, String(value).trim());
  try {
    const { data } = await api(`/reports?${query}`);
    if (data.length === 0) {
      clear(listBox, emptyState("No reports yet", el("p", {}, canOperate
        ? "Generate one above: pick a service that has samples and a period."
        : "An operator generates reports; they appear here.")));
      return;
    }
    clear(listBox, el("table", { class: "table reports" },
      el("thead", {}, el("tr", {}, ["Generated", "Service", "Type", "Period", "Requests", "p95 latency", ""]
        .map((h) => el("th", { scope: "col" }, h || el("span", { class: "sr-only" }, "Open"))))),
      el("tbody", {}, data.map((r) => el("tr", { dataset: { reportId: r.id } },
        el("td", {}, formatTime(r.generatedAt)),
        el("td", {}, r.serviceName),
        el("td", {}, r.reportType),
        el("td", {}, `${formatTime(r.period.start)} – ${formatTime(r.period.end)}`),
        el("td", { class: "num" }, String(r.summary.totalRequests)),
        el("td", { class: "num" }, formatValue("latency", r.summary.latencyP95)),
        el("td", { class: "buttons" },
          el("button", { type: "button", class: "btn btn-secondary", "aria-label": `View report on ${r.serviceName} of ${formatTime(r.generatedAt)}`, onclick: () => show(r.id) }, "View"),
          " ",
          el("a", { href: csvHref(r), download: `report-${r.id}.csv`, "aria-label": `Download CSV of report on ${r.serviceName}` }, "CSV")),
      )))));
  } catch (error) {
    announce(`Could not load reports: ${error.message}`, "error");
  }
}

function figuresTable(summary) {
  return el("table", { class: "table figures" },
    el("caption", { class: "sr-only" }, "Summary"),
    el("tbody", {}, FIGURES.map(([key, label, type]) => el("tr", { dataset: { figure: key } },
      el("th", { scope: "row" }, label),
      el("td", { class: "num" }, type ? formatValue(type, summary[key]) : String(summary[key] ?? "—")),
    ))));
}

function optimizationsTable(items) {
  if (items.length === 0) return el("p", { class: "muted" }, "No actions in this period.");
  return el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ["Action", "Executed", "Skipped", "Improved", "Worsened", "No change", "Mean impact"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, items.map((o) => el("tr", {},
      el("td", {}, o.type),
      el("td", { class: "num" }, String(o.executed)),
      el("td", { class: "num" }, String(o.skipped)),
      el("td", { class: "num" }, String(o.improved)),
      el("td", { class: "num" }, String(o.worsened)),
      el("td", { class: "num" }, String(o.noChange)),
      el("td", { class: "num" }, formatPercent(o.impact)),
    ))));
}

function render(report) {
  const s = report.summary;
  const alerts = Object.entries(s.alertCounts.bySeverity);
  clear(viewBox,
    el("p", {}, el("strong", {}, report.serviceName), ` · ${report.reportType} · `,
      `${formatTime(report.period.start)} – ${formatTime(report.period.end)} · generated ${formatTime(report.generatedAt)}`),
    el("p", { class: "form-buttons" },
      el("a", { class: "btn", href: csvHref(report), download: `report-${report.id}.csv` }, "Download CSV"),
      el("a", { class: "btn btn-secondary", href: `/ui/api/reports/${report.id}?format=html`, target: "_blank", rel: "noopener" }, "Printable page")),
    el("div", { class: "columns" },
      el("div", {}, el("h3", {}, "Figures"), figuresTable(s)),
      el("div", {},
        el("h3", {}, "Alerts"),
        el("p", { dataset: { alerts: s.alertCounts.total } }, `${s.alertCounts.total} alert${s.alertCounts.total === 1 ? "" : "s"}`,
          alerts.length ? ` (${alerts.map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""),
        el("h3", {}, "Samples"),
        el("p", {}, Object.entries(s.sampleCounts).filter(([, v]) => v > 0).map(([k, v]) => `${k}: ${v}`).join(", ") || "none in this period"),
      )),
    el("h3", {}, "Actions and their measured impact"),
    optimizationsTable(report.optimizations),
    el("h3", {}, "Recommendations"),
    report.recommendations.length
      ? el("ul", { class: "recommendations" }, report.recommendations.map((r) => el("li", {}, badge(r.kind, "kind"), " ", r.message)))
      : el("p", { class: "muted" }, "None: nothing in the data calls for a change."),
  );
  viewSection.hidden = false;
  document.getElementById("report-view-title").focus();
}

async function show(id) {
  try {
    const { data } = await api(`/reports/${id}`);
    render(data);
  } catch (error) {
    announce(`Could not load the report: ${error.message}`, "error");
  }
}

function localToIso(value) {
  return value ? new Date(value).toISOString() : undefined;
}

async function generate(event) {
  event.preventDefault();
  const f = new FormData(form);
  const text = (k) => String(f.get(k) ?? "").trim();
  const body = { serviceName: text("serviceName"), reportType: text("reportType") };
  if (text("groupBy")) body.groupBy = text("groupBy");
  if (text("start") || text("end")) body.period = { start: localToIso(text("start")) ?? null, end: localToIso(text("end")) ?? null };
  try {
    const { data } = await api("/reports", { method: "POST", body });
    clearFieldErrors(form, formErrors);
    announce(`Report on ${data.serviceName} generated.`, "ok");
    render(data);
    await loadList();
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      showFieldErrors(form, formErrors, error);
      announce("The report was not generated: see the marked fields.", "error");
    } else announce(`Could not generate the report: ${error.message}`, "error");
  }
}

filters.addEventListener("submit", (event) => {
  event.preventDefault();
  loadList();
});
filters.addEventListener("change", loadList);
if (form) form.addEventListener("submit", generate);
await loadList();
