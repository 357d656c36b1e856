// Alerts: filter by status, severity and service; acknowledge and resolve.
import { alertsTable, announce, api, clear, el, emptyState, liveEvents, throttle } from "./lib.js";

const form = document.getElementById("alert-filters");
const box = document.getElementById("alerts");

async function load() {
  const query = new URLSearchParams({ limit: "200" });
  for (const [key, value] of new FormData(form)) if (value) query.set(key, String(value).trim());
  try {
    const { data } = await api(`/alerts?${query}`);
    clear(box, alertsTable(data, { onChange: load }) ?? emptyState("No alerts match",
      el("p", {}, "Change the filters, or ", el("a", { href: "/ui/rules" }, "create a rule"), " so that alerts can fire.")));
  } catch (error) {
    announce(`Could not load alerts: ${error.message}`, "error");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
form.addEventListener("change", load);
await load();
const soon = throttle(load, 1000);
liveEvents({ "alert.fired": soon, "alert.resolved": soon, "alert.acknowledged": soon });
