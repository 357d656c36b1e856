// Settings: webhooks (list, add, enable/disable, delete), autoscaling (global or per service)
// and scrape targets with their health. Admins edit; the API validates and refuses the rest.
import {
  announce, api, ApiError, badge, canAdmin, clear, clearFieldErrors, el, emptyState,
  formatTime, showFieldErrors,
} from "./lib.js";

const $ = (id) => document.getElementById(id);

async function submitForm(form, errorsBox, request, done) {
  try {
    const result = await request();
    clearFieldErrors(form, errorsBox);
    await done(result);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      showFieldErrors(form, errorsBox, error);
      announce("Not saved: see the marked fields.", "error");
    } else announce(`Not saved: ${error.message}`, "error");
  }
}

async function run(what, request) {
  try {
    await request();
  } catch (error) {
    announce(`Could not ${what}: ${error.message}`, "error");
  }
}

// --- webhooks ---------------------------------------------------------------------------

async function loadWebhooks() {
  const { data } = await api("/webhooks");
  if (data.length === 0) {
    clear($("webhooks"), emptyState("No webhooks",
      el("p", {}, "A webhook receives alerts, actions and state changes as signed JSON (HMAC-SHA256). ",
        canAdmin ? "Add one below." : "An admin adds them.")));
    return;
  }
  clear($("webhooks"), el("table", { class: "table webhooks" },
    el("thead", {}, el("tr", {}, ["URL", "Service", "Events", "Active", "Created"].map((h) => el("th", { scope: "col" }, h)),
      canAdmin ? el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Controls")) : null)),
    el("tbody", {}, data.map((w) => el("tr", { dataset: { webhookId: w.id } },
      el("td", { class: "message" }, w.url),
      el("td", {}, w.serviceName ?? el("span", { class: "muted" }, "every service")),
      el("td", {}, w.events.join(", ")),
      el("td", {}, badge(w.isActive ? "on" : "off")),
      el("td", {}, formatTime(w.createdAt)),
      canAdmin ? el("td", { class: "buttons" },
        el("button", {
          type: "button", class: "btn btn-secondary", "aria-label": `${w.isActive ? "Disable" : "Enable"} webhook ${w.url}`,
          onclick: () => run("change the webhook", async () => {
            await api(`/webhooks/${w.id}`, { method: "PUT", body: { isActive: !w.isActive } });
            await loadWebhooks();
          }),
        }, w.isActive ? "Disable" : "Enable"),
        el("button", {
          type: "button", class: "btn btn-secondary", "aria-label": `Delete webhook ${w.url}`,
          onclick: () => run("delete the webhook", async () => {
            if (!window.confirm(`Delete the webhook to ${w.url}?`)) return;
            await api(`/webhooks/${w.id}`, { method: "DELETE" });
            announce("Webhook deleted.", "ok");
            await loadWebhooks();
          }),
        }, "Delete")) : null,
    )))));
}

function webhookBody(form) {
  const f = new FormData(form);
  return {
    url: String(f.get("url") ?? "").trim(),
    serviceName: String(f.get("serviceName") ?? "").trim() || null,
    events: f.getAll("events").map(String),
  };
}

// --- autoscaling ------------------------------------------------------------------------

const AS_NUMBERS = ["minInstances", "maxInstances", "targetUtilization", "scaleUpThreshold", "scaleDownThreshold", "cooldownPeriod"];

function scopeQuery() {
  const name = $("as-scope").value.trim();
  return name ? `?serviceName=${encodeURIComponent(name)}` : "";
}

function showAutoscaling(config) {
  const form = $("autoscaling-form");
  for (const key of AS_NUMBERS) form.elements[key].value = String(config[key]);
  form.elements.metric.value = config.metric;
  form.elements.enabled.checked = config.enabled;
  $("as-inherited").textContent = config.serviceName === null
    ? "The global default: services without an override of their own use it."
    : config.inherited
      ? `${config.serviceName} has no override: these are the global values; saving creates one.`
      : `${config.serviceName}'s own override${config.updatedAt ? `, updated ${formatTime(config.updatedAt)}` : ""}.`;
}

async function loadAutoscaling() {
  clearFieldErrors($("autoscaling-form"), $("autoscaling-form-errors"));
  const { data } = await api(`/autoscaling/config${scopeQuery()}`);
  showAutoscaling(data);
}

function autoscalingBody(form) {
  const body = {};
  for (const key of AS_NUMBERS) {
    const raw = form.elements[key].value.trim();
    body[key] = raw === "" ? null : Number(raw);
  }
  body.metric = form.elements.metric.value.trim();
  body.enabled = form.elements.enabled.checked;
  return body;
}

// --- scrape targets ---------------------------------------------------------------------

function health(t) {
  const h = t.health;
  if (h.up === null) return el("span", { class: "muted" }, "not scraped yet");
  return el("span", {}, badge(h.up ? "up" : "down", h.up ? "on" : "failed"),
    ` ${formatTime(h.lastScrapeAt)}, ${h.samples} samples`,
    h.lastDurationMs === null ? "" : ` in ${h.lastDurationMs.toFixed(0)} ms`,
    h.lastError ? el("span", { class: "error-text" }, ` ${h.lastError}`) : null);
}

async function loadTargets() {
  const { data } = await api("/targets");
  if (data.length === 0) {
    clear($("targets"), emptyState("No scrape targets",
      el("p", {}, "Perfpilot can scrape Prometheus endpoints (vLLM, TGI, Triton, LiteLLM) every interval. ",
        canAdmin ? "Add one below." : "An admin adds them.")));
    return;
  }
  clear($("targets"), el("table", { class: "table targets" },
    el("thead", {}, el("tr", {}, ["URL", "Service", "Preset", "Interval", "Health"].map((h) => el("th", { scope: "col" }, h)),
      canAdmin ? el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Controls")) : null)),
    el("tbody", {}, data.map((t) => el("tr", { dataset: { targetId: t.id } },
      el("td", { class: "message" }, t.url),
      el("td", {}, el("a", { href: `/ui/services/${encodeURIComponent(t.serviceName)}` }, t.serviceName)),
      el("td", {}, t.preset),
      el("td", { class: "num" }, `${t.interval} s`),
      el("td", {}, health(t)),
      canAdmin ? el("td", { class: "buttons" }, el("button", {
        type: "button", class: "btn btn-secondary", "aria-label": `Delete target ${t.url}`,
        onclick: () => run("delete the target", async () => {
          if (!window.confirm(`Stop scraping ${t.url}?`)) return;
          await api(`/targets/${t.id}`, { method: "DELETE" });
          announce("Target deleted.", "ok");
          await loadTargets();
        }),
      }, "Delete")) : null,
    )))));
}

function targetBody(form) {
  const f = new FormData(form);
  const interval = String(f.get("interval") ?? "").trim();
  return {
    url: String(f.get("url") ?? "").trim(),
    serviceName: String(f.get("serviceName") ?? "").trim(),
    preset: String(f.get("preset")),
    interval: interval === "" ? undefined : Number(interval),
  };
}

// --- wiring -----------------------------------------------------------------------------

$("autoscaling-scope").addEventListener("submit", (event) => {
  event.preventDefault();
  run("load autoscaling", loadAutoscaling);
});

if (canAdmin) {
  const webhookForm = $("webhook-form");
  webhookForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitForm(webhookForm, $("webhook-form-errors"),
      () => api("/webhooks", { method: "POST", body: webhookBody(webhookForm) }),
      async ({ data }) => {
        const secret = $("webhook-secret");
        clear(secret, "Webhook added. Its signing secret, shown this once: ", el("code", { "data-testid": "webhook-secret" }, data.secret));
        secret.hidden = false;
        webhookForm.reset();
        await loadWebhooks();
      });
  });
  const asForm = $("autoscaling-form");
  asForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitForm(asForm, $("autoscaling-form-errors"),
      () => api(`/autoscaling/config${scopeQuery()}`, { method: "PUT", body: autoscalingBody(asForm) }),
      ({ data }) => {
        showAutoscaling(data);
        announce("Autoscaling saved.", "ok");
      });
  });
  const targetForm = $("target-form");
  targetForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitForm(targetForm, $("target-form-errors"),
      () => api("/targets", { method: "POST", body: targetBody(targetForm) }),
      async () => {
        announce("Target added: the first scrape follows within its interval.", "ok");
        targetForm.reset();
        await loadTargets();
      });
  });
}

await Promise.all([
  run("load webhooks", loadWebhooks),
  run("load autoscaling", loadAutoscaling),
  run("load scrape targets", loadTargets),
]);
