"""/docs and /redoc work without internet: every asset is served by Perfpilot itself, and the
page's CSP allows exactly that (scripts from 'self', no inline script)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.conftest import LiveServer

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


class AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0
        self.openapi_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.assets.append(str(values["src"]))
            else:
                self._in_script = True
            if values.get("data-openapi-url"):
                self.openapi_urls.append(str(values["data-openapi-url"]))
        if tag == "link" and values.get("href"):
            self.assets.append(str(values["href"]))
        if tag == "redoc" and values.get("spec-url"):
            self.openapi_urls.append(str(values["spec-url"]))

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_server_itself(
    live_server: LiveServer, page: str
) -> None:
    response = await live_server.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "cdn." not in response.text and "https://" not in response.text

    parser = AssetParser()
    parser.feed(response.text)
    assert parser.assets, "the page loads no asset"
    assert parser.inline_scripts == 0, "an inline script would need 'unsafe-inline'"
    assert parser.openapi_urls == ["/openapi.json"]

    policy = csp_directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-eval'" not in policy.get("script-src", [])

    scripts = 0
    for url in parser.assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await live_server.client.get(url)
        assert asset.status_code == 200, url
        suffix = re.search(r"\.[a-z]+$", url)
        assert suffix is not None, url
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix.group()], url
        assert len(asset.content) > 0
        scripts += suffix.group() == ".js"
    assert scripts >= 1

    spec = await live_server.client.get(parser.openapi_urls[0])
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "Perfpilot"


async def test_swagger_ui_starts_from_its_bundle_with_the_served_document(
    live_server: LiveServer,
) -> None:
    page = (await live_server.client.get("/docs")).text
    parser = AssetParser()
    parser.feed(page)
    bundle, init = (u for u in parser.assets if u.endswith(".js"))
    assert "SwaggerUIBundle" in (await live_server.client.get(bundle)).text[:2000]
    script = (await live_server.client.get(init)).text
    assert "SwaggerUIBundle(" in script and "dataset.openapiUrl" in script


async def test_api_responses_keep_the_strict_policy(live_server: LiveServer) -> None:
    response = await live_server.client.get("/healthz")
    assert csp_directives(response.headers["content-security-policy"])["default-src"] == ["'none'"]
