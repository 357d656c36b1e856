"""The `perfpilot` command: serve (optionally with the demo), migrate, token, simulate."""

from __future__ import annotations

import asyncio
import gc
from typing import Annotated

import typer
import uvicorn

from perfpilot.core.auth import Role, TokenAuthority, load_or_create_secret
from perfpilot.core.config import API_PREFIX, get_settings
from perfpilot.core.db import create_engine
from perfpilot.core.migrate import upgrade_database
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
    from perfpilot.app import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
    if demo:
        from perfpilot.simulator.demo import demo_settings

        demo_settings(settings)
    application = create_app(settings)
    ctx = application.state.ctx
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
        typer.echo("JWT secret is configured; mint a token with `perfpilot token --role admin`.")
    if demo:
        from perfpilot.simulator.demo import install_demo

        typer.echo(install_demo(application, settings=settings))
    tune_gc()
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(),  # caps request heads (431)
        # open SSE streams must not keep Ctrl-C from stopping the server
        timeout_graceful_shutdown=5,
    )


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        engine = create_engine(settings.effective_database_url)
        try:
            await upgrade_database(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
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
    settings = get_settings()
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
