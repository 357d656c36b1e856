"""Dashboard sign-in over real HTTP: one-time link, pasted token, CSRF, roles, sign-out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from perfpilot.core.auth import Role
from tests.conftest import _empty_tables, make_settings, start_server
from tests.envelope import assert_error


class Ui:
    def __init__(self, app: Any, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    def token(self, role: str) -> str:
        return str(self.app.state.ctx.tokens.mint(role=Role[role], subject=role, ttl_seconds=600))

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)


@pytest.fixture
async def ui(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Ui]:
    marker = request.node.get_closest_marker("settings")
    settings = make_settings(database_url, tmp_path, **(dict(marker.kwargs) if marker else {}))
    server, task, (app, port) = await start_server(settings)
    yield Ui(app, f"http://127.0.0.1:{port}")
    server.should_exit = True
    await task
    await _empty_tables(database_url)


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/ui/")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_link_signs_in_once_with_a_strict_httponly_cookie(ui: Ui) -> None:
    code = ui.app.state.ui.links.issue()
    async with ui.browser() as browser:
        first = await browser.get("/ui/login", params={"token": code})
        assert first.status_code == 303 and first.headers["location"] == "/ui/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        page = await browser.get("/ui/")
        assert 'data-role="admin"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    async with ui.browser() as other:
        again = await other.get("/ui/login", params={"token": code})
        assert again.status_code == 401 and "already used" in again.text
        assert (await other.get("/ui/")).status_code == 303  # not signed in


async def test_unsafe_requests_need_the_csrf_token_and_the_role(ui: Ui) -> None:
    rule = {
        "name": "r",
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1},
        "action": {"type": "scale_up"},
    }
    async with ui.browser() as viewer:
        await viewer.post("/ui/login", data={"token": ui.token("viewer")})
        csrf = await csrf_of(viewer)
        assert (await viewer.get("/ui/api/rules")).status_code == 200
        missing = await viewer.post("/ui/api/rules", json=rule)
        assert_error(missing, 403, "csrf_failed")
        refused = await viewer.post("/ui/api/rules", json=rule, headers={"X-CSRF-Token": csrf})
        assert_error(refused, 403, "forbidden")
    async with ui.browser() as admin:
        await admin.post("/ui/login", data={"token": ui.token("admin")})
        csrf = await csrf_of(admin)
        created = await admin.post("/ui/api/rules", json=rule, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        bad = await admin.post(
            "/ui/api/rules", json={**rule, "name": ""}, headers={"X-CSRF-Token": csrf}
        )
        assert assert_error(bad, 422, "validation_error")["details"][0]["field"] == "name"
        out = await admin.post("/ui/logout", data={"csrf": csrf})
        assert out.status_code == 303
        assert_error(await admin.get("/ui/api/rules"), 401, "unauthorized")


async def test_a_bad_pasted_token_is_refused(ui: Ui) -> None:
    async with ui.browser() as browser:
        response = await browser.post("/ui/login", data={"token": "not-a-jwt"})
        assert response.status_code == 401 and "Not signed in" in response.text
        assert "set-cookie" not in response.headers


@pytest.mark.settings(ui=False)
async def test_ui_off_serves_only_the_api(ui: Ui) -> None:
    async with ui.browser() as browser:
        assert (await browser.get("/ui/")).status_code == 404
        assert (await browser.get("/")).status_code == 404


async def test_reports_and_settings_pages_follow_the_role(ui: Ui) -> None:
    async with ui.browser() as anonymous:
        for path in ("/ui/reports", "/ui/settings"):
            response = await anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    async with ui.browser() as viewer:
        await viewer.post("/ui/login", data={"token": ui.token("viewer")})
        reports = await viewer.get("/ui/reports")
        settings = await viewer.get("/ui/settings")
        assert reports.status_code == settings.status_code == 200
        assert 'id="report-form"' not in reports.text
        for form in ('id="webhook-form"', 'id="target-form"', "Save autoscaling"):
            assert form not in settings.text
    async with ui.browser() as admin:
        await admin.post("/ui/login", data={"token": ui.token("admin")})
        reports = await admin.get("/ui/reports")
        settings = await admin.get("/ui/settings")
        assert 'id="report-form"' in reports.text
        for form in ('id="webhook-form"', 'id="target-form"', "Save autoscaling"):
            assert form in settings.text
        # every webhook event the API knows is offered, and nothing else
        events = set(re.findall(r'name="events" value="([^"]+)"', settings.text))
        assert events == {
            "alert.fired",
            "alert.acknowledged",
            "alert.resolved",
            "action.executed",
            "state.changed",
        }


async def test_a_report_downloads_as_csv_with_the_session(ui: Ui) -> None:
    async with ui.browser() as operator:
        await operator.post("/ui/login", data={"token": ui.token("operator")})
        csrf = await csrf_of(operator)
        sample = {"serviceName": "chat", "metricType": "latency", "value": 120}
        pushed = await operator.post("/ui/api/metrics", json=sample, headers={"X-CSRF-Token": csrf})
        assert pushed.status_code == 201, pushed.text
        created = await operator.post(
            "/ui/api/reports",
            json={"serviceName": "chat", "reportType": "daily"},
            headers={"X-CSRF-Token": csrf},
        )
        assert created.status_code == 201, created.text
        report_id = created.json()["data"]["id"]
        download = await operator.get(f"/ui/api/reports/{report_id}", params={"format": "csv"})
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        rows = dict(line.split(",", 1) for line in download.text.splitlines())
        assert rows["reportId"] == report_id and rows["averageLatency"] == "120.0"
