"""The `perfpilot` command: serve, migrate, token."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from perfpilot.core.auth import Role, TokenAuthority, load_or_create_secret
from perfpilot.core.config import API_PREFIX, get_settings
from perfpilot.core.db import create_engine
from perfpilot.core.migrate import upgrade_database

app = typer.Typer(help="Perfpilot: performance control plane for AI services.", no_args_is_help=True)

ADMIN_TOKEN_TTL_SECONDS = 7 * 24 * 3600


def _parse_ttl(ttl: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    ttl = ttl.strip().lower()
    try:
        if ttl and ttl[-1] in units:
            seconds = int(ttl[:-1]) * units[ttl[-1]]
        else:
            seconds = int(ttl)
    except ValueError:
        raise typer.BadParameter("use seconds or a number with s/m/h/d, e.g. 3600 or 12h") from None
    if seconds <= 0:
        raise typer.BadParameter("ttl must be positive")
    return seconds


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (PERFPILOT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (PERFPILOT_PORT)")] = None,
) -> None:
    """Upgrade the database, then serve the API and run the engine loops."""
    from perfpilot.app import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
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
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        server_header=False,
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


if __name__ == "__main__":
    app()
