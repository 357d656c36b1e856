// Shared helpers of the dashboard pages: API calls through /ui/api, DOM building, formatting,
// the live event stream and alert tables. No inline script or style anywhere (strict CSP).

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
export const role = document.body.dataset.role ?? "viewer";
export const canOperate = role === "operator" || role === "admin";
export const canAdmin = role === "admin";

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? "error";
    this.details = error?.details ?? [];
  }
}

/** Call the API (same paths as under /v1/ai-performance-optimization); returns the envelope. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/ui/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    window.location.assign("/ui/login");
    throw new ApiError(401, { message: "Signed out" });
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok || !payload?.success) throw new ApiError(response.status, payload?.error);
  return payload;
}

/** Build an element: el("td", {class: "num"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

const UNITS = {
  latency: "ms", throughput: "rps", accuracy: "", cost: "USD", memory: "MB", cpu: "%",
  error_rate: "", success_rate: "",
};
const RATIOS = new Set(["accuracy", "error_rate", "success_rate"]);

export function formatValue(type, value) {
  if (value === null || value === undefined) return "—";
  if (RATIOS.has(type)) return `${(value * 100).toFixed(value < 0.01 ? 2 : 1)} %`;
  if (type === "cost") return `$${value < 0.01 ? value.toPrecision(2) : value.toFixed(2)}`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[type] ?? ""}`.trim();
}

export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  const sign = ratio > 0 ? "+" : "";
  return `${sign}${(ratio * 100).toFixed(1)} %`;
}

export function badge(text, kind = text) {
  return el("span", { class: `badge badge-${kind}` }, text);
}

/** A polite status line for the result of an action (screen readers announce it). */
export function announce(message, kind = "info") {
  const region = document.getElementById("status");
  if (!region) return;
  region.className = message ? `status status-${kind}` : "status";
  region.textContent = message;
}

/** Subscribe to the live event stream; `handlers` maps event names to callbacks. */
export function liveEvents(handlers, { serviceName } = {}) {
  const query = serviceName ? `?serviceName=${encodeURIComponent(serviceName)}` : "";
  const source = new EventSource(`/ui/api/realtime/stream${query}`);
  const indicator = document.getElementById("live");
  if (indicator) indicator.textContent = "connecting…";
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data), name));
  }
  source.addEventListener("ready", () => {
    if (indicator) {
      indicator.textContent = "live";
      indicator.className = "live live-on";
    }
  });
  source.addEventListener("error", () => {
    if (indicator) {
      indicator.textContent = "reconnecting…";
      indicator.className = "live live-off";
    }
  });
  return source;
}

/** Run `fn` at most once per `ms`, trailing call included. */
export function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return () => {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (pending) {
        pending = false;
        fn();
      }
    }, ms);
  };
}

/** A table of alerts with acknowledge/resolve buttons for operators. */
export function alertsTable(alerts, { onChange, showService = true } = {}) {
  if (alerts.length === 0) return null;
  const head = el("tr", {},
    el("th", { scope: "col" }, "Severity"),
    showService ? el("th", { scope: "col" }, "Service") : null,
    el("th", { scope: "col" }, "Alert"),
    el("th", { scope: "col" }, "Value"),
    el("th", { scope: "col" }, "Status"),
    el("th", { scope: "col" }, "Triggered"),
    canOperate ? el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Actions")) : null,
  );
  const rows = alerts.map((alert) => {
    const buttons = [];
    if (canOperate && alert.status === "active") {
      buttons.push(el("button", {
        type: "button", class: "btn",
        "aria-label": `Acknowledge alert on ${alert.serviceName}`,
        onclick: () => change(alert, "acknowledge", onChange),
      }, "Acknowledge"));
    }
    if (canOperate && alert.status !== "resolved") {
      buttons.push(el("button", {
        type: "button", class: "btn btn-secondary",
        "aria-label": `Resolve alert on ${alert.serviceName}`,
        onclick: () => change(alert, "resolve", onChange),
      }, "Resolve"));
    }
    return el("tr", { dataset: { alertId: alert.id, status: alert.status } },
      el("td", {}, badge(alert.severity)),
      showService ? el("td", {}, el("a", { href: `/ui/services/${encodeURIComponent(alert.serviceName)}` }, alert.serviceName)) : null,
      el("td", { class: "message" }, alert.message),
      el("td", { class: "num" }, formatValue(alert.metricType, alert.currentValue)),
      el("td", {}, badge(alert.status)),
      el("td", {}, formatTime(alert.triggeredAt)),
      canOperate ? el("td", { class: "buttons" }, buttons) : null,
    );
  });
  return el("table", { class: "table alerts" }, el("thead", {}, head), el("tbody", {}, rows));
}

async function change(alert, verb, onChange) {
  try {
    await api(`/alerts/${alert.id}/${verb}`, { method: "PUT" });
    announce(`Alert on ${alert.serviceName} ${verb === "resolve" ? "resolved" : "acknowledged"}.`, "ok");
  } catch (error) {
    announce(`Could not ${verb} the alert: ${error.message}`, "error");
  }
  onChange?.();
}

/** An empty state: what is missing, and what to do about it. */
export function emptyState(title, ...body) {
  return el("div", { class: "empty" }, el("h3", {}, title), ...body);
}

export function metricsSnippet() {
  const origin = window.location.origin;
  return el("pre", { class: "snippet" }, el("code", {},
    `curl -X POST ${origin}/v1/ai-performance-optimization/metrics \\\n` +
    `  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\n` +
    `  -d '{"serviceName": "my-llm-service", "metricType": "latency", "value": 850}'`));
}

/** Remove the inline errors `showFieldErrors` put in `form`. */
export function clearFieldErrors(form, errorsBox) {
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  if (errorsBox) clear(errorsBox);
}

/** Put each API error detail next to the input it names (data-field = its path); the rest
 * goes in `errorsBox`. `prefix` is stripped from the detail's field first. */
export function showFieldErrors(form, errorsBox, error, prefix = "") {
  clearFieldErrors(form, errorsBox);
  const inputs = [...form.querySelectorAll("[data-field]")];
  const general = [];
  for (const detail of error.details.length ? error.details : [{ field: "", message: error.message }]) {
    const name = detail.field ?? "";
    const field = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    const input = inputs
      .filter((i) => field === i.dataset.field || field.startsWith(`${i.dataset.field}.`))
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (!input) {
      general.push(el("li", {}, name ? `${name}: ${detail.message}` : detail.message));
      continue;
    }
    const id = `${input.id}-error`;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.closest(".field").append(el("p", { class: "field-error", id }, detail.message));
  }
  if (general.length && errorsBox) errorsBox.append(el("ul", {}, general));
  form.querySelector("[aria-invalid]")?.focus();
}
