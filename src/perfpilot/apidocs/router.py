"""/docs and /redoc: pages whose every asset is served by this process, so they work offline
and under the CSP core/middleware.py sets on them: scripts from 'self' only, no inline one.

The Swagger UI and ReDoc bundles come from the `fastapi-offline` package (its pinned version
in pyproject.toml records theirs); the Swagger UI start-up script is ours, a static file.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
VENDOR_PATH = "/docs/vendor"
STATIC_PATH = "/docs/static"
_VENDOR_DIR = Path(str(files("fastapi_offline") / "static"))
_STATIC_DIR = Path(__file__).resolve().parent / "static"


def _swagger_page(root: str, *, title: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API docs</title>
<link rel="icon" type="image/png" href="{root}{VENDOR_PATH}/favicon.png">
<link rel="stylesheet" href="{root}{VENDOR_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{VENDOR_PATH}/swagger-ui-bundle.js"></script>
<script src="{root}{STATIC_PATH}/swagger-init.js" data-openapi-url="{root}{openapi_url}"></script>
</body>
</html>
"""


def _redoc_page(root: str, *, title: str, openapi_url: str) -> str:
    # ReDoc starts by itself on the <redoc> element: no script of ours is needed
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - API reference</title>
<link rel="icon" type="image/png" href="{root}{VENDOR_PATH}/favicon.png">
</head>
<body>
<redoc spec-url="{root}{openapi_url}"></redoc>
<script src="{root}{VENDOR_PATH}/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (create the app with docs_url=redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(VENDOR_PATH, StaticFiles(directory=_VENDOR_DIR), name="docs-vendor")
    app.mount(STATIC_PATH, StaticFiles(directory=_STATIC_DIR), name="docs-static")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        page = _swagger_page(root, title=app.title, openapi_url=openapi_url)
        return HTMLResponse(page)

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        page = _redoc_page(root, title=app.title, openapi_url=openapi_url)
        return HTMLResponse(page)
