"""Reports, Settings and label-split charts in a real browser (Debian's chromium).

One `perfpilot serve` (a real process, SQLite) for the module, with an hour of latency
samples of two models; outbound requests to loopback allowed so a webhook and a scrape target
can point at this machine.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.browser.harness import API, WAIT_MS, Served, require_browser, shot

require_browser()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

MODELS = {"gpt-4": 100.0, "llama-3": 400.0}
PUSHED = 120 * len(MODELS)


def labelled(value: float, when: datetime, model: str) -> dict[str, Any]:
    return {
        "serviceName": "demo-chat",
        "metricType": "latency",
        "value": value,
        "timestamp": when.isoformat(),
        "labels": {"model": model},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("pages"), PERFPILOT_OUTBOUND_ALLOW="127.0.0.0/8")
    now = datetime.now(UTC)
    server.push(
        *(
            labelled(value, now - timedelta(seconds=age), model)
            for model, value in MODELS.items()
            for age in range(3600, 0, -30)
        )
    )
    yield server
    server.stop()


def admin_page(served: Served, browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    # a one-time link of the served process is used by one test only: sign in with a token
    page.goto(f"{served.base}/ui/login")
    page.get_by_label("Token (JWT)").fill(served.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("role")).to_have_text("admin")
    return page


def test_reports_generate_view_and_download_csv(served: Served, browser: Browser) -> None:
    page = admin_page(served, browser)
    page.goto(f"{served.base}/ui/reports")
    expect(page.locator("#reports")).to_contain_text("No reports yet")
    # no service: the API's 422 is shown at the field
    page.get_by_role("button", name="Generate report").click()
    expect(page.locator("#rep-service[aria-invalid='true']")).to_be_visible()
    page.get_by_label("Service", exact=True).fill("demo-chat")
    page.get_by_role("button", name="Generate report").click()
    # every latency sample of the day counts as a request when no throughput was reported
    expect(page.locator("tr[data-figure='totalRequests'] td")).to_have_text(str(PUSHED))
    expect(page.locator("tr[data-figure='latencyP50'] td")).not_to_have_text("—")
    expect(page.locator("#reports tr[data-report-id]")).to_have_count(1)
    shot(page, "reports")
    report_id = page.locator("#reports tr[data-report-id]").get_attribute("data-report-id")
    stored = httpx.get(
        f"{served.base}{API}/reports/{report_id}",
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=30,
    ).json()["data"]["summary"]
    with page.expect_download() as info:
        page.locator("#report").get_by_role("link", name="Download CSV").click()
    with open(info.value.path(), encoding="utf-8", newline="") as downloaded:
        rows = dict(csv.reader(downloaded))
    assert rows["reportId"] == report_id
    assert rows["totalRequests"] == str(stored["totalRequests"]) == str(PUSHED)
    assert float(rows["latencyP95"]) == stored["latencyP95"]
    page.context.close()


def test_settings_webhooks_autoscaling_and_targets(served: Served, browser: Browser) -> None:
    page = admin_page(served, browser)
    page.goto(f"{served.base}/ui/settings")
    expect(page.locator("#webhooks")).to_contain_text("No webhooks")
    expect(page.locator("#targets")).to_contain_text("No scrape targets")

    page.get_by_label("URL", exact=True).fill("ftp://127.0.0.1/hook")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("#wh-url[aria-invalid='true']")).to_be_visible()
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_test_id("webhook-secret")).not_to_be_empty()
    expect(page.locator("#webhooks tr[data-webhook-id]")).to_have_count(1)
    expect(page.locator("#webhooks")).to_contain_text("alert.fired")

    # min above max: refused by the API, shown at the fields; then a valid change is kept
    page.get_by_label("Min instances").fill("5")
    page.get_by_label("Max instances").fill("2")
    page.get_by_role("button", name="Save autoscaling").click()
    expect(page.locator("#as-minInstances[aria-invalid='true']")).to_be_visible()
    page.get_by_label("Max instances").fill("12")
    page.get_by_role("button", name="Save autoscaling").click()
    expect(page.locator("#status")).to_have_text("Autoscaling saved.")

    page.get_by_label("Metrics URL").fill("http://127.0.0.1:9/metrics")
    page.locator("#tg-service").fill("demo-chat")
    page.get_by_label("Preset").select_option("vllm")
    page.get_by_role("button", name="Add target").click()
    expect(page.locator("#targets tr[data-target-id]")).to_have_count(1)
    shot(page, "settings")

    page.reload()
    expect(page.get_by_label("Min instances")).to_have_value("5")
    expect(page.get_by_label("Max instances")).to_have_value("12")
    config = httpx.get(
        f"{served.base}{API}/autoscaling/config",
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=30,
    ).json()["data"]
    assert (config["minInstances"], config["maxInstances"]) == (5, 12)
    page.context.close()


def test_service_charts_split_and_filter_by_model(served: Served, browser: Browser) -> None:
    page = admin_page(served, browser)
    page.goto(f"{served.base}/ui/services/demo-chat")
    chart = page.locator("#charts .chart").first
    expect(chart.locator(".uplot")).to_have_count(1)
    page.get_by_label("Split by label").select_option("model")
    legend = chart.locator(".u-legend")
    expect(legend).to_contain_text("gpt-4")
    expect(legend).to_contain_text("llama-3")
    shot(page, "service-split-by-model")
    page.get_by_label("Split by label").select_option("")
    page.get_by_label("Filter").fill("model=llama-3")
    page.get_by_role("button", name="Apply").click()
    expect(chart.locator(".uplot")).to_have_count(1)
    # the filtered chart's values are llama-3's only: its min..max legend reads 400 ms
    chart.locator(".uplot .u-over").hover()
    expect(legend).to_contain_text("400 ms")
    expect(legend).not_to_contain_text("100 ms")
    page.get_by_label("Filter").fill("model")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#status")).to_contain_text("name=value")
    # 30 days: whole-minute buckets, answered from the minute rollups
    page.get_by_label("Filter").fill("")
    page.get_by_label("Range").select_option("30d")
    expect(page.locator("#charts .chart[data-source='rollups']")).not_to_have_count(0)
    page.context.close()


def test_a_viewer_reads_reports_and_settings_without_edit_controls(
    served: Served, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 800}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{served.base}/ui/login")
    page.get_by_label("Token (JWT)").fill(served.mint("viewer"))
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{served.base}/ui/reports")
    expect(page.locator("#reports")).to_be_visible()
    expect(page.locator("#report-form")).to_have_count(0)
    page.goto(f"{served.base}/ui/settings")
    expect(page.locator("#webhooks")).not_to_contain_text("Loading")
    for form in ("#webhook-form", "#target-form"):
        expect(page.locator(form)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Save|Delete|Disable|Add"))).to_have_count(0)
    shot(page, "settings-viewer-dark")
    context.close()
