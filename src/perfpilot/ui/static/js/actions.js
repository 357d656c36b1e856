// Actions: every action with its outcome and measured impact.
import {
  announce, api, badge, clear, el, emptyState, formatPercent, formatTime, formatValue,
  liveEvents, throttle,
} from "./lib.js";

const form = document.getElementById("action-filters");
const box = document.getElementById("actions");

async function load() {
  const query = new URLSearchParams({ limit: "200" });
  for (const [key, value] of new FormData(form)) if (value) query.set(key, String(value).trim());
  try {
    const { data } = await api(`/actions?${query}`);
    if (data.length === 0) {
      clear(box, emptyState("No actions yet",
        el("p", {}, "Actions are taken when a rule fires, by the autoscaler, or by POST /optimize. ",
          el("a", { href: "/ui/rules" }, "Create a rule"), " with an action to see one here.")));
      return;
    }
    clear(box, el("table", { class: "table" },
      el("thead", {}, el("tr", {}, ["When", "Service", "Action", "Source", "Status", "Metric", "Baseline", "Measured", "Impact", "Outcome"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, data.map((a) => el("tr", {},
        el("td", {}, formatTime(a.executedAt)),
        el("td", {}, el("a", { href: `/ui/services/${encodeURIComponent(a.serviceName)}` }, a.serviceName)),
        el("td", {}, a.type),
        el("td", {}, a.source),
        el("td", {}, badge(a.status), a.reason ? el("span", { class: "muted" }, ` ${a.reason}`) : null),
        el("td", {}, a.metricType ?? "—"),
        el("td", { class: "num" }, formatValue(a.metricType, a.baseline)),
        el("td", { class: "num" }, formatValue(a.metricType, a.measuredValue)),
        el("td", { class: "num" }, formatPercent(a.measuredImpact)),
        el("td", {}, a.outcome ? badge(a.outcome) : el("span", { class: "muted" }, a.status === "executed" ? "measuring…" : "—")),
      )))));
  } catch (error) {
    announce(`Could not load actions: ${error.message}`, "error");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
form.addEventListener("change", load);
await load();
const soon = throttle(load, 1000);
liveEvents({ "action.executed": soon, "action.skipped": soon, "action.failed": soon, "action.dry_run": soon });
setInterval(load, 15000);
