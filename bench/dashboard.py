"""Dashboard first paint (issue 12, DESIGN §8: < 300 ms per page on a local server).

    python bench/dashboard.py                 # 10 cold + 20 warm loads per page
    python bench/dashboard.py --cold 5 --warm 10

One run, SQLite, loopback only: the real `perfpilot serve` (bench/server.py) on a temporary
store with 24 h of samples of 5 services x 4 metric types (one every 30 s), a rule that fires
on one of them and a stored report; Debian's chromium, headless, driven by Playwright, signed
in with a session cookie obtained from POST /ui/login (the pasted-token path).

- cold: the overview, and the sign-in page, each as the first page of a freshly launched
  browser (empty HTTP cache, no compiled scripts), --cold launches each;
- warm: each page loaded --warm times in one browser (cached assets, as a user clicking
  around sees it), half a second on about:blank before each load.
Figures: first-contentful-paint (Paint Timing) and the navigation's responseEnd
(Navigation Timing: the server's share), p50/p95 per page. Same-run baseline: the sign-in
page (cold and warm), which has the same stylesheets and no script or data: the browser's
own floor on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from server import API, Server

CHROMIUM = "/usr/bin/chromium"
BUDGET_MS = 300.0
SERVICES = [f"svc-{i}" for i in range(5)]
TYPES = ["latency", "error_rate", "throughput", "cost"]
VALUES = {"latency": 250.0, "error_rate": 0.01, "throughput": 40.0, "cost": 0.002}
PAINT = """() => new Promise((resolve) => {
  const found = () => performance.getEntriesByName('first-contentful-paint')[0];
  const done = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({ fcp: found().startTime, responseEnd: nav.responseEnd });
  };
  if (found()) return done();
  new PerformanceObserver(() => found() && done()).observe({ type: 'paint', buffered: true });
})"""


def populate(base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for service in SERVICES:
            samples = [
                {
                    "serviceName": service,
                    "metricType": kind,
                    "value": VALUES[kind] * (3 if service == "svc-0" and age < 120 else 1),
                    "timestamp": (now - timedelta(seconds=age)).isoformat(),
                }
                for kind in TYPES
                for age in range(86_400, 0, -30)
            ]
            for start in range(0, len(samples), 10_000):
                response = client.post(
                    f"{API}/metrics/batch", json={"samples": samples[start : start + 10_000]}
                )
                response.raise_for_status()
        rule = {
            "name": "svc-0 latency",
            "serviceName": "svc-0",
            "condition": {"metric": "latency", "operator": "gt", "threshold": 500},
            "action": {"type": "scale_up"},
        }
        client.post(f"{API}/rules", json=rule).raise_for_status()
        client.post(
            f"{API}/metrics", json={"serviceName": "svc-0", "metricType": "latency", "value": 900}
        ).raise_for_status()
        client.post(
            f"{API}/reports", json={"serviceName": "svc-0", "reportType": "daily"}
        ).raise_for_status()


def session_cookie(base: str, token: str) -> dict[str, str]:
    response = httpx.post(f"{base}/ui/login", data={"token": token}, timeout=30)
    assert response.status_code == 303, response.text
    value = response.cookies["perfpilot_session"]
    return {"name": "perfpilot_session", "value": value, "url": base}


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def row(name: str, fcps: list[float], ends: list[float], floor: float | None) -> str:
    p50 = statistics.median(fcps)
    verdict = "within" if p(fcps, 0.95) < BUDGET_MS else "OVER"
    ratio = f"{p50 / floor:5.2f}x" if floor else "    —"
    return (
        f"{name:<28} FCP p50 {p50:6.1f} ms  p95 {p(fcps, 0.95):6.1f} ms  "
        f"responseEnd p50 {statistics.median(ends):6.1f} ms  vs sign-in {ratio}  "
        f"{verdict} {BUDGET_MS:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--warm", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp)) as server:
        base = f"http://127.0.0.1:{server.port}"
        admin = server.token("admin")
        started = time.perf_counter()
        populate(base, admin)
        print(
            f"store: {len(SERVICES) * len(TYPES) * 2880:,} samples, 1 rule, 1 report "
            f"({time.perf_counter() - started:.0f} s to push)"
        )
        cookie = session_cookie(base, admin)
        pages = {
            "sign-in (baseline)": "/ui/login",
            "overview": "/ui/",
            "service": "/ui/services/svc-0",
            "alerts": "/ui/alerts",
            "rules": "/ui/rules",
            "actions": "/ui/actions",
            "reports": "/ui/reports",
            "settings": "/ui/settings",
        }
        with sync_playwright() as playwright:
            launch = {"executable_path": CHROMIUM, "args": ["--no-sandbox"]}
            cold: dict[str, tuple[list[float], list[float]]] = {
                "sign-in (baseline)": ([], []),
                "overview": ([], []),
            }
            for _ in range(args.cold):
                for name, (fcps, ends) in cold.items():
                    browser = playwright.chromium.launch(**launch)
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.add_cookies([cookie])
                    page = context.new_page()
                    page.goto(f"{base}{pages[name]}")
                    timing = page.evaluate(PAINT)
                    fcps.append(timing["fcp"])
                    ends.append(timing["responseEnd"])
                    browser.close()
            browser = playwright.chromium.launch(**launch)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([cookie])
            page = context.new_page()
            results: dict[str, tuple[list[float], list[float]]] = {}
            for name, path in pages.items():
                page.goto(f"{base}{path}")  # warm the cache for this page
                fcps, ends = [], []
                for _ in range(args.warm):
                    # leave the page and let the server finish the last page's data requests,
                    # as between a user's clicks
                    page.goto("about:blank")
                    time.sleep(0.5)
                    page.goto(f"{base}{path}")
                    timing = page.evaluate(PAINT)
                    fcps.append(timing["fcp"])
                    ends.append(timing["responseEnd"])
                results[name] = (fcps, ends)
            browser.close()
        print(f"chromium headless, 1280x900; cold: {args.cold} launches; warm: {args.warm} loads")
        cold_floor = statistics.median(cold["sign-in (baseline)"][0])
        for name, (fcps, ends) in cold.items():
            baseline = None if name.startswith("sign-in") else cold_floor
            print(row(f"{name}, cold browser", fcps, ends, baseline))
        floor = statistics.median(results["sign-in (baseline)"][0])
        for name, (fcps, ends) in results.items():
            print(row(f"{name}, warm", fcps, ends, None if name.startswith("sign-in") else floor))


if __name__ == "__main__":
    main()
