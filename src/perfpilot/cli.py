"""The `perfpilot` command: serve (optionally with the demo), migrate, token, simulate."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer
import uvicorn
from pydantic import ValidationError

from perfpilot.core.auth import Role, TokenAuthority, load_or_create_secret
from perfpilot.core.config import API_PREFIX, Settings, get_settings
from perfpilot.core.preflight import StartupError, lock_data_dir, prepare_database
from perfpilot.core.server import uvicorn_options

app = typer.Typer(
    help="Perfpilot: performance control plane for AI services.", no_args_is_help=True
)

ADMIN_TOKEN_TTL_SECONDS = 7 * 24 * 3600


def _parse_ttl(ttl: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    ttl = ttl.strip().lower()
    try:
        seconds = int(ttl[:-1]) * units[ttl[-1]] if ttl and ttl[-1] in units else int(ttl)
    except ValueError:
        raise typer.BadParameter("use seconds or a number with s/m/h/d, e.g. 3600 or 12h") from None
    if seconds <= 0:
        raise typer.BadParameter("ttl must be positive")
    return seconds


def _fail(message: str) -> NoReturn:
    typer.echo(f"perfpilot: {message}", err=True)
    raise typer.Exit(1)


def _load_settings() -> Settings:
    """Settings from the environment; an invalid one is a one-line error, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PERFPILOT_{'_'.join(str(p) for p in err['loc']).upper()}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        _fail(f"invalid setting {problems}")


class _AnnouncingServer(uvicorn.Server):
    """Says "listening" once the app has started and the socket is bound, not before."""

    def __init__(self, config: uvicorn.Config, *, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.announce()


def tune_gc() -> None:
    """Ingestion allocates millions of short-lived objects: with Python's default threshold
    (700) the cyclic GC runs thousands of times a second and walks the whole heap every few
    seconds, about a third of the server's CPU under batch load (BENCHMARKS.md). Exempt what
    start-up built (gc.freeze) and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (PERFPILOT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (PERFPILOT_PORT)")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also simulate a service, with demo rules (README)")
    ] = False,
) -> None:
    """Upgrade the database, then serve the API and run the engine loops."""
    settings = _load_settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
    if demo:
        from perfpilot.simulator.demo import demo_settings

        demo_settings(settings)
    try:
        # held until the process ends: SQLite serves one process per data directory
        lock = lock_data_dir(settings.data_dir) if settings.is_sqlite else None
        asyncio.run(prepare_database(settings.effective_database_url))
    except StartupError as exc:
        _fail(str(exc))
    from perfpilot.app import create_app  # after the checks: a bad setup fails fast

    application = create_app(settings, migrate=False)
    ctx = application.state.ctx
    demo_summary = None
    if demo:
        from perfpilot.simulator.demo import install_demo

        demo_summary = install_demo(application, settings=settings)

    def announce() -> None:
        base = f"http://{settings.host}:{settings.port}"
        typer.echo(f"Perfpilot listening on {base}  (API {base}{API_PREFIX}, docs {base}/docs)")
        typer.echo(f"Database: {ctx.engine.url.render_as_string(hide_password=True)}")
        if ctx.secret_generated:
            token = ctx.tokens.mint(
                role=Role.admin, subject="admin", ttl_seconds=ADMIN_TOKEN_TTL_SECONDS
            )
            typer.echo("Admin token (valid 7 days; mint more with `perfpilot token`):")
            typer.echo(token)
        else:
            typer.echo(
                "JWT secret is configured; mint a token with `perfpilot token --role admin`."
            )
        if settings.ui:
            code = application.state.ui.links.issue()
            typer.echo(f"Dashboard: {base}/ui/login?token={code}")
            typer.echo("  (one-time sign-in link, valid 10 minutes; or paste a token at /ui/login)")
        if demo_summary:
            typer.echo(demo_summary)
        sys.stdout.flush()  # seen at once when stdout is a file or a pipe

    tune_gc()
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(),  # caps request heads (431)
        # open SSE streams must not keep Ctrl-C from stopping the server
        timeout_graceful_shutdown=5,
    )
    server = _AnnouncingServer(config, announce=announce)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if lock is not None:
        lock.release()
    if not server.started:
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    settings = _load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(prepare_database(settings.effective_database_url))
    except StartupError as exc:
        _fail(str(exc))
    typer.echo("Database is at the latest schema revision.")


@app.command()
def token(
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    sub: Annotated[str, typer.Option(help="Subject: who the token is for")] = "cli",
    ttl: Annotated[str, typer.Option(help="Lifetime: seconds or 30m, 12h, 7d")] = "24h",
) -> None:
    """Mint an HS256 token with the configured (or generated) secret."""
    if role not in Role.__members__:
        raise typer.BadParameter("role must be viewer, operator or admin", param_hint="--role")
    settings = _load_settings()
    secret, _ = load_or_create_secret(settings)
    authority = TokenAuthority(settings, secret=secret)
    typer.echo(authority.mint(role=role, subject=sub, ttl_seconds=_parse_ttl(ttl)))


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Perfpilot server URL")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(help="Bearer token (default: minted with the local secret)")
    ] = None,
    service: Annotated[str, typer.Option(help="Service name to report as")] = "sim-chat",
    profile: Annotated[str, typer.Option(help="steady, spike or wave")] = "spike",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same run")] = 0,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per second (> 1: a past-dated run)")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="Simulated seconds to run (default: until Ctrl-C)")
    ] = None,
    model: Annotated[str, typer.Option(help="gpt-xl, gpt-large or small-fast")] = "gpt-large",
    instances: Annotated[int, typer.Option(help="Instances before any desired state")] = 2,
    rate: Annotated[float, typer.Option(help="Base (or mean) requests/s")] = 4.0,
    peak: Annotated[float, typer.Option(help="Spike or wave peak requests/s")] = 11.0,
    follow: Annotated[str, typer.Option(help="poll or webhook")] = "poll",
    listen: Annotated[
        str, typer.Option(help="host:port of the webhook receiver (--follow webhook)")
    ] = "127.0.0.1:0",
) -> None:
    """Run a simulated LLM service that pushes metrics and follows its desired state."""
    from perfpilot.simulator.command import SimulationError, run_simulate

    try:
        summary = run_simulate(
            url=url, token=token, service=service, profile=profile, seed=seed, speed=speed,
            duration=duration, model=model, instances=instances, rate=rate, peak=peak,
            follow=follow, listen=listen, echo=typer.echo,
        )  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    except SimulationError as exc:
        typer.echo(f"simulate: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(summary)


if __name__ == "__main__":
    app()
