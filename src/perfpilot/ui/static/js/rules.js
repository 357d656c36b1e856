// Rules: list, enable/disable, create with the API's validation errors inline, and backtest
// a rule over stored samples before saving it.
import {
  announce, api, ApiError, badge, canAdmin, clear, clearFieldErrors, el, emptyState, formatTime,
  formatValue, showFieldErrors,
} from "./lib.js";

const listBox = document.getElementById("rules");
const form = document.getElementById("rule-form");
const formErrors = document.getElementById("rule-form-errors");
const backtestBox = document.getElementById("backtest");

function describe(rule) {
  const c = rule.condition;
  if (!c) return el("span", { class: "error-text" }, rule.invalidReason ?? "invalid");
  const duration = c.duration ? ` for ${c.duration} s` : "";
  return `${c.aggregation}(${c.metric}, ${c.window} s) ${c.operator} ${formatValue(c.metric, c.threshold)}${duration}`;
}

async function loadRules() {
  const { data } = await api("/rules");
  if (data.length === 0) {
    clear(listBox, emptyState("No rules yet",
      el("p", {}, canAdmin
        ? "Create one below: for example latency p95 over 120 s greater than 2000 ms, scale up by 1. Backtest it first to see how often it would have fired."
        : "An admin creates rules; they appear here.")));
    return;
  }
  clear(listBox, el("table", { class: "table" },
    el("thead", {}, el("tr", {},
      ["Name", "Service", "Condition", "Action", "Active"].map((h) => el("th", { scope: "col" }, h)),
      canAdmin ? el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Controls")) : null)),
    el("tbody", {}, data.map((rule) => el("tr", { dataset: { ruleId: rule.id } },
      el("td", {}, rule.name),
      el("td", {}, rule.serviceName ?? el("span", { class: "muted" }, "every service")),
      el("td", {}, describe(rule)),
      el("td", {}, rule.action ? `${rule.action.type} (${rule.action.priority})` : "—"),
      el("td", {}, badge(rule.isActive ? "on" : "off")),
      canAdmin ? el("td", { class: "buttons" }, el("button", {
        type: "button", class: "btn btn-secondary",
        "aria-label": `${rule.isActive ? "Disable" : "Enable"} rule ${rule.name}`,
        onclick: () => toggle(rule),
      }, rule.isActive ? "Disable" : "Enable")) : null,
    )))));
}

async function toggle(rule) {
  try {
    await api(`/rules/${rule.id}`, { method: "PUT", body: { isActive: !rule.isActive } });
    announce(`Rule ${rule.name} ${rule.isActive ? "disabled" : "enabled"}.`, "ok");
  } catch (error) {
    announce(`Could not change rule ${rule.name}: ${error.message}`, "error");
  }
  await loadRules();
}

function number(value) {
  return value === "" ? undefined : Number(value);
}

/** The form as a POST /rules body (empty optional fields left out: the API's defaults). */
function ruleBody() {
  const f = new FormData(form);
  const text = (k) => String(f.get(k) ?? "").trim();
  let parameters = {};
  const raw = text("parameters");
  if (raw) {
    try {
      parameters = JSON.parse(raw);
    } catch {
      parameters = raw; // sent as is: the API names the field in its error
    }
  }
  const condition = {
    metric: text("metric"), operator: text("operator"),
    threshold: text("threshold") === "" ? null : number(text("threshold")),
    aggregation: text("aggregation"),
    window: number(text("window")), duration: number(text("duration")),
    resolveThreshold: number(text("resolveThreshold")), unit: text("unit") || undefined,
  };
  const action = {
    type: text("actionType"), parameters, priority: text("priority"),
    cooldown: number(text("cooldown")),
  };
  return {
    name: text("name"), serviceName: text("serviceName") || null,
    condition, action, isActive: true,
  };
}

function clearErrors() {
  clearFieldErrors(form, formErrors);
}

function showErrors(error, prefix = "") {
  showFieldErrors(form, formErrors, error, prefix);
}

async function save(event) {
  event.preventDefault();
  try {
    const { data } = await api("/rules", { method: "POST", body: ruleBody() });
    clearErrors();
    announce(`Rule ${data.name} created.`, "ok");
    form.reset();
    clear(backtestBox);
    await loadRules();
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      showErrors(error);
      announce("The rule was not saved: see the marked fields.", "error");
    } else announce(`Could not save the rule: ${error.message}`, "error");
  }
}

async function backtest() {
  const hours = Number(document.getElementById("backtest-range").value);
  const until = new Date();
  const since = new Date(until - hours * 3600e3);
  clear(backtestBox, el("p", { class: "muted" }, "Running the rule over stored samples…"));
  try {
    const { data } = await api("/rules/backtest", {
      method: "POST",
      body: { rule: ruleBody(), since: since.toISOString(), until: until.toISOString() },
    });
    clearErrors();
    announce("");
    renderBacktest(data);
  } catch (error) {
    clear(backtestBox);
    if (error instanceof ApiError && error.status === 422) showErrors(error, "rule.");
    else announce(`Backtest failed: ${error.message}`, "error");
  }
}

function renderBacktest(r) {
  const metric = form.elements.metric.value;
  const summary = el("p", { class: "backtest-summary", role: "status" },
    `Over ${r.samples} samples from ${formatTime(r.since)} to ${formatTime(r.until)}: `,
    el("strong", { dataset: { fired: r.fired } }, `fired ${r.fired} time${r.fired === 1 ? "" : "s"}`),
    `, resolved ${r.resolved}, `, el("strong", {}, `${r.actionCount} action${r.actionCount === 1 ? "" : "s"}`),
    ` would have been taken.`);
  if (r.samples === 0) {
    clear(backtestBox, summary, el("p", { class: "muted" }, "No stored samples of this metric in the range: push some, or choose a longer range."));
    return;
  }
  const intervals = r.intervals.length === 0
    ? el("p", { class: "muted" }, "The condition never held: the rule would have stayed quiet.")
    : el("table", { class: "table backtest" },
      el("caption", {}, "When the rule would have been pending or firing"),
      el("thead", {}, el("tr", {}, ["Service", "State", "From", "To", "Ended by", "Peak"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, r.intervals.map((i) => el("tr", { dataset: { state: i.state } },
        el("td", {}, i.serviceName), el("td", {}, badge(i.state)),
        el("td", {}, formatTime(i.start)), el("td", {}, i.end ? formatTime(i.end) : "still open"),
        el("td", {}, i.endedBy ?? "—"), el("td", { class: "num" }, formatValue(metric, i.peakValue))))));
  clear(backtestBox, summary, intervals);
}

await loadRules().catch((error) => announce(`Could not load rules: ${error.message}`, "error"));
if (form) {
  form.addEventListener("submit", save);
  document.getElementById("backtest-button").addEventListener("click", backtest);
}
