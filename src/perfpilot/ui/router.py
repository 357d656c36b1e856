"""The dashboard's pages, sign-in and sign-out (DESIGN §11).

Pages are server-rendered shells (Jinja2): navigation, the signed-in role and the CSRF token.
Their data comes from the API through /ui/api (proxy.py), rendered by the page's script; the
role decides which controls exist, and the API refuses what the role may not do anyway.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

import jwt
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from perfpilot import __version__
from perfpilot.collection.target_schemas import PresetName
from perfpilot.core.auth import Principal, Role
from perfpilot.core.deps import get_context
from perfpilot.core.errors import Unauthorized
from perfpilot.ui.proxy import COOKIE_NAME, PROXY_PREFIX, UiApiProxy
from perfpilot.ui.sessions import SessionStore, SignInLinks, UiSession
from perfpilot.webhooks.schemas import KNOWN_EVENTS

HERE = Path(__file__).parent
MAX_LOGIN_BODY = 16 * 1024
LINK_SUBJECT = "admin"


@dataclass
class UiState:
    sessions: SessionStore
    links: SignInLinks
    session_seconds: float


templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)
PAGES = [
    ("overview", "/ui/", "Overview"),
    ("alerts", "/ui/alerts", "Alerts"),
    ("rules", "/ui/rules", "Rules"),
    ("actions", "/ui/actions", "Actions"),
    ("reports", "/ui/reports", "Reports"),
    ("settings", "/ui/settings", "Settings"),
]
# labels a chart can be split by: DESIGN §9's typical keys, then OTLP's `operation`
SPLIT_LABELS = ["model", "endpoint", "deployment", "region", "tenant", "operation"]
# the settings page's autoscaling inputs: (field, label, extra attributes)
AUTOSCALING_FIELDS = [
    ("minInstances", "Min instances", 'min="1" step="1"'),
    ("maxInstances", "Max instances", 'min="1" step="1"'),
    ("targetUtilization", "Target utilization", 'step="any"'),
    ("scaleUpThreshold", "Scale-up threshold", 'step="any"'),
    ("scaleDownThreshold", "Scale-down threshold", 'step="any"'),
    ("cooldownPeriod", "Cooldown (s)", 'min="0" step="1"'),
]


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


UiStateDep = Annotated[UiState, Depends(ui_state)]


class SignInRequired(Exception):
    """A page without a session: redirect to the sign-in page."""


def current_session(request: Request, ui: UiStateDep) -> UiSession:
    session = ui.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise SignInRequired
    return session


SessionRequired = Annotated[UiSession, Depends(current_session)]


def _page(
    request: Request, session: UiSession, page: str, title: str, **extra: Any
) -> HTMLResponse:
    role = session.principal.role
    return templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "title": title,
            "pages": PAGES,
            "session": session,
            "role": role.name,
            "can_operate": role >= Role.operator,
            "can_admin": role >= Role.admin,
            "version": __version__,
            **extra,
        },
    )


def _start_session(
    request: Request, ui: UiState, principal: Principal, token: str, expires_at: float
) -> Response:
    session_id, _ = ui.sessions.create(principal, token=token, expires_at=expires_at)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=max(1, int(expires_at - time.time())),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _login_page(request: Request, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "login.html",
        {"page": "login", "title": "Sign in", "error": error, "version": __version__},
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, ui: UiStateDep, token: str | None = None) -> Response:
    """The sign-in form; with ?token= the one-time link printed by `perfpilot serve`."""
    if token is None:
        return _login_page(request)
    if not ui.links.redeem(token):
        return _login_page(
            request,
            error="This sign-in link was already used or has expired (links last 10 minutes). "
            "Paste a token below, or restart `perfpilot serve` for a new link.",
            status=401,
        )
    ctx = get_context(request)
    expires_at = time.time() + ui.session_seconds
    jwt = ctx.tokens.mint(
        role=Role.admin, subject=LINK_SUBJECT, ttl_seconds=int(ui.session_seconds)
    )
    return _start_session(request, ui, Principal(LINK_SUBJECT, Role.admin), jwt, expires_at)


def _expiry(token: str) -> float:
    """The `exp` of a token that verify() accepted (it requires one)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


def _cross_site(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return (
        origin is not None
        and origin != "null"
        and urllib.parse.urlsplit(origin).netloc != request.url.netloc
    )


@router.post("/login", response_class=HTMLResponse)
async def login_with_token(request: Request, ui: UiStateDep) -> Response:
    """A pasted JWT becomes a session for the token's subject, role and expiry."""
    if _cross_site(request):
        return _login_page(request, error="Sign in from this page.", status=403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            return _login_page(request, error="That token is too long.", status=413)
    token = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0].strip()
    if not token:
        return _login_page(
            request, error="Paste a token (perfpilot token --role viewer).", status=422
        )
    ctx = get_context(request)
    try:
        principal = ctx.tokens.verify(token)
        expires_at = _expiry(token)
    except Unauthorized as exc:
        return _login_page(request, error=f"Not signed in: {exc.message}", status=401)
    expires_at = min(expires_at, time.time() + ui.session_seconds)
    return _start_session(request, ui, principal, token, expires_at)


@router.post("/logout")
async def logout(request: Request, ui: UiStateDep) -> Response:
    session_id = request.cookies.get(COOKIE_NAME)
    session = ui.sessions.get(session_id)
    form = urllib.parse.parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    if session is not None and session.csrf_matches(form.get("csrf", [None])[0]):
        ui.sessions.revoke(session_id)
    elif session is not None:
        return Response("Missing or wrong CSRF token", status_code=403)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/ui")
    return response


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, session: SessionRequired) -> Response:
    return _page(request, session, "overview", "Overview")


@router.get("/services/{name}", response_class=HTMLResponse)
async def service_page(request: Request, name: str, session: SessionRequired) -> Response:
    return _page(request, session, "service", name, service_name=name, split_labels=SPLIT_LABELS)


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, session: SessionRequired) -> Response:
    return _page(request, session, "alerts", "Alerts")


@router.get("/rules", response_class=HTMLResponse)
async def rules_page(request: Request, session: SessionRequired) -> Response:
    return _page(request, session, "rules", "Rules")


@router.get("/actions", response_class=HTMLResponse)
async def actions_page(request: Request, session: SessionRequired) -> Response:
    return _page(request, session, "actions", "Actions")


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, session: SessionRequired) -> Response:
    return _page(request, session, "reports", "Reports")


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, session: SessionRequired) -> Response:
    return _page(
        request,
        session,
        "settings",
        "Settings",
        webhook_events=KNOWN_EVENTS,
        presets=get_args(PresetName),
        autoscaling_fields=AUTOSCALING_FIELDS,
    )


def install_ui(app: FastAPI, *, session_hours: float) -> UiState:
    """Mount the dashboard: pages, static assets, the API proxy; `/` redirects to it."""
    state = UiState(SessionStore(), SignInLinks(), session_seconds=session_hours * 3600)
    app.state.ui = state

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, __: SignInRequired) -> Response:
        return RedirectResponse("/ui/login", status_code=303)

    @app.get("/", include_in_schema=False)
    async def _root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui", include_in_schema=False)
    async def _ui() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    app.mount(PROXY_PREFIX, UiApiProxy(app, state.sessions), name="ui-api")
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)
    return state
