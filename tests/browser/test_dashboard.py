"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

One `perfpilot serve` (a real process, SQLite) for the module; the sign-in link is the one
it prints. Screenshots and first-paint times go to tests/browser/artefacts/ (not committed).
Skipped or failed without a browser as harness.require_browser says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.harness import WAIT_MS, Served, latency, require_browser, shot

require_browser()

from playwright.sync_api import Browser, expect  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("browser"))
    now = datetime.now(UTC)
    # the last hour: 120 ms every 30 s, with a 5-minute spike to 3 s forty minutes ago
    server.push(
        *(
            latency(3000 if 40 * 60 >= age >= 35 * 60 else 120, now - timedelta(seconds=age))
            for age in range(3600, 0, -30)
        )
    )
    yield server
    server.stop()


def test_admin_signs_in_watches_an_alert_arrive_and_acknowledges_it(
    served: Served, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # the printed one-time link signs in and lands on the overview
    page.goto(served.link)
    expect(page).to_have_url(f"{served.base}/ui/")
    expect(page.get_by_test_id("role")).to_have_text("admin")
    expect(page.locator("tr[data-service='demo-chat']")).to_be_visible()
    expect(page.locator("tr[data-service='demo-chat'] .spark canvas")).to_be_visible()
    shot(page, "overview")

    # a rule with a validation error, shown at its field; then backtest and save it
    page.goto(f"{served.base}/ui/rules")
    page.get_by_label("Name", exact=True).fill("Latency spike")
    page.get_by_label("Service", exact=True).fill("demo-chat")
    page.get_by_label("Aggregation").select_option("last")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#r-threshold[aria-invalid='true']")).to_be_visible()
    expect(page.locator(".field-error")).not_to_have_count(0)
    shot(page, "rules-validation-error")
    page.get_by_label("Threshold", exact=True).fill("2000")
    page.get_by_role("button", name="Backtest").click()
    expect(page.locator(".backtest-summary")).to_contain_text("fired 1 time")
    expect(page.locator("table.backtest tr[data-state='firing']")).to_have_count(1)
    shot(page, "rules-backtest")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#rules")).to_contain_text("Latency spike")

    # bad samples arrive: the alert appears on the open overview without a reload
    page.goto(f"{served.base}/ui/")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("() => { window.notReloaded = true; }")
    now = datetime.now(UTC)
    served.push(*(latency(5000, now - timedelta(seconds=age)) for age in (3, 2, 1, 0)))
    row = page.locator("#open-alerts tr[data-status='active']")
    expect(row).to_have_count(1)
    assert page.evaluate("() => window.notReloaded === true")
    shot(page, "overview-alert")
    row.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(page.locator("#open-alerts tr[data-status='acknowledged']")).to_have_count(1)
    # latency recovers after the rule's scale_up: its measured impact appears
    served.push(*(latency(100, now + timedelta(seconds=s)) for s in (1.5, 2, 3, 4)))

    # the service page: charts, desired state, the action the rule took
    page.goto(f"{served.base}/ui/services/demo-chat")
    expect(page.locator("#charts .uplot")).not_to_have_count(0)
    expect(page.locator("#actions")).to_contain_text("scale_up")
    shot(page, "service")
    page.goto(f"{served.base}/ui/actions")
    expect(page.locator("#actions")).to_contain_text("scale_up")
    expect(page.locator("#actions .badge-improved")).to_have_count(1)
    shot(page, "actions")
    page.goto(f"{served.base}/ui/alerts")
    page.get_by_label("Status").select_option("")
    expect(page.locator("#alerts tr[data-status='resolved']")).to_have_count(1)
    shot(page, "alerts")
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors
    context.close()


def test_a_viewer_sees_no_edit_controls(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 800}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{served.base}/ui/login")
    page.get_by_label("Token (JWT)").fill(served.mint("viewer"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("role")).to_have_text("viewer")
    page.goto(f"{served.base}/ui/rules")
    expect(page.locator("#rules table")).to_be_visible()
    expect(page.locator("#rule-form")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Disable|Enable"))).to_have_count(0)
    shot(page, "rules-viewer-dark")
    page.goto(f"{served.base}/ui/alerts")
    page.get_by_label("Status").select_option("")
    expect(page.locator("#alerts table")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Acknowledge|Resolve"))).to_have_count(0)
    shot(page, "alerts-viewer-dark")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{served.base}/ui/login")
    context.close()
