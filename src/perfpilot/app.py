"""create_app(): the FastAPI application, its middleware, routers and background loops."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from perfpilot import __version__
from perfpilot.actions.coordinator import ActionCoordinator
from perfpilot.actions.router import router as actions_router
from perfpilot.alertmanager.router import router as alertmanager_router
from perfpilot.alertmanager.sender import AlertmanagerSender
from perfpilot.alerts.router import router as alerts_router
from perfpilot.apidocs.router import install_docs
from perfpilot.autoscaling.router import router as autoscaling_router
from perfpilot.backtest.router import router as backtest_router
from perfpilot.cluster.replica import Replica
from perfpilot.cluster.router import router as cluster_router
from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.hub import CollectionHub
from perfpilot.collection.otlp_router import receiver as otlp_receiver
from perfpilot.collection.otlp_router import router as collection_router
from perfpilot.collection.scheduler import ScrapeScheduler
from perfpilot.collection.target_router import router as targets_router
from perfpilot.core.auth import TokenAuthority, load_or_create_secret
from perfpilot.core.checkpoint import WalCheckpointer
from perfpilot.core.config import API_PREFIX, Settings, get_settings
from perfpilot.core.context import AppContext
from perfpilot.core.db import GIL_SWITCH_INTERVAL_S, create_database
from perfpilot.core.errors import install_error_handlers
from perfpilot.core.logging import configure_logging
from perfpilot.core.middleware import RequestFrameMiddleware
from perfpilot.core.migrate import upgrade_database
from perfpilot.core.openapi import install_openapi
from perfpilot.core.outbound import OutboundPolicy, parse_networks
from perfpilot.core.ratelimit import RateLimiter
from perfpilot.core.routing import flat_routes
from perfpilot.cost.router import router as prices_router
from perfpilot.engine.runner import EngineRunner
from perfpilot.forecast.anomaly import AnomalyBands
from perfpilot.forecast.router import router as trends_router
from perfpilot.metric_types.refresh import RegistryRefresh
from perfpilot.metric_types.router import router as metric_types_router
from perfpilot.metric_types.service import load_registry
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.retention import RetentionLoop
from perfpilot.metrics.router import post_metric
from perfpilot.metrics.router import router as metrics_router
from perfpilot.metrics.sample_route import SamplePath
from perfpilot.metrics.stream import SampleStream
from perfpilot.monitoring.live_router import router as live_router
from perfpilot.monitoring.router import probes
from perfpilot.monitoring.router import router as monitoring_router
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.optimize.router import router as optimize_router
from perfpilot.reports.router import router as reports_router
from perfpilot.rules.router import router as rules_router
from perfpilot.series.router import router as series_router
from perfpilot.services.router import router as services_router
from perfpilot.silences.router import router as silences_router
from perfpilot.webhooks.dispatcher import WebhookDispatcher
from perfpilot.webhooks.group_flusher import GroupFlusher
from perfpilot.webhooks.router import router as webhooks_router

log = structlog.get_logger("perfpilot.app")

DESCRIPTION = """
Perfpilot is a performance control plane for AI services. Push metrics, define rules,
get alerts, and let actions (scale, switch model, fallback, retry, cache clear) run and prove
their impact.

Every `/v1` route needs `Authorization: Bearer <jwt>`; `perfpilot token --role admin` mints one.
"""


def build_context(settings: Settings) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    telemetry = Telemetry(
        max_series=settings.exposition_max_series,
        silent_seconds=settings.no_data_after_seconds,
    )
    database = create_database(
        settings.effective_database_url,
        on_write_wait=lambda role, s: telemetry.db_write_wait.labels(role).observe(s),
        on_write_hold=lambda role, s: telemetry.db_write_hold.labels(role).observe(s),
        on_lock_wait=telemetry.db_lock_wait.observe,
    )
    engine = database.writer
    secret, generated = load_or_create_secret(settings)
    samples = SampleStream()
    return AppContext(
        settings=settings,
        engine=engine,
        sessionmaker=database.write_sessions,
        read_engine=database.reader,
        readers=database.read_sessions,
        tokens=TokenAuthority(settings, secret=secret),
        secret_generated=generated,
        limiter=RateLimiter(settings),
        telemetry=telemetry,
        samples=samples,
        ingest=IngestWriter(
            engine,
            stream=samples,
            telemetry=telemetry,
            max_rows_per_commit=settings.group_commit_max_rows,
            cardinality_limit=settings.cardinality_limit,
            retention_seconds=settings.retention_days * 86_400.0,
        ),
        outbound=OutboundPolicy(parse_networks(settings.outbound_allow)),
    )


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    ctx = build_context(settings)
    collection = CollectionHub(otlp_state=CumulativeState(max_series=settings.otlp_max_series))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_database(ctx.engine)
        await load_registry(ctx.readers)  # before anything validates or evaluates a sample
        # scale-out on PostgreSQL (DESIGN §12, cluster/): off by default
        replica = Replica(ctx, settings) if settings.scale_out and not settings.is_sqlite else None
        if settings.scale_out and settings.is_sqlite:
            log.warning("scale_out_ignored", reason="SQLite serves one process per data directory")
        ctx.ingest.start()
        webhooks = WebhookDispatcher(
            engine=ctx.engine,
            read_engine=ctx.read_engine,
            settings=settings,
            telemetry=ctx.telemetry,
            policy=ctx.outbound,
        )
        webhooks.start()
        ctx.loops["webhooks"] = webhooks
        groups = GroupFlusher(
            sessionmaker=ctx.sessionmaker, readers=ctx.readers, on_flushed=webhooks.notify
        )
        groups.start()
        ctx.loops["webhook_groups"] = groups
        engine_parts: dict[str, Any] = {
            "sessionmaker": ctx.sessionmaker,
            "readers": ctx.readers,
            "samples": ctx.samples,
            "telemetry": ctx.telemetry,
            "settings": settings,
        }
        sharded = replica.engine(**engine_parts) if replica is not None else None
        runner = sharded or EngineRunner(**engine_parts)
        runner.actions = ActionCoordinator(settings, latest_sample_ts=runner.latest_sample_ts)
        runner.events = ctx.events
        await runner.start()
        ctx.engine_control = runner
        ctx.loops["engine"] = runner
        bands = AnomalyBands(ctx.readers, runner.core, interval=settings.anomaly_refresh_seconds)
        runner.core.bands = bands
        bands.start()
        ctx.loops["anomaly"] = bands
        scraper = ScrapeScheduler(
            sessions=ctx.readers,
            ingest=ctx.ingest,
            hub=collection,
            policy=ctx.outbound,
            concurrency=settings.scrape_concurrency,
            max_body_bytes=settings.scrape_max_body_bytes,
            max_series=settings.scrape_max_series,
        )
        scraper.register_metrics(ctx.telemetry.registry)
        collection.scraper = scraper
        forwarder = AlertmanagerSender(
            sessionmaker=ctx.sessionmaker, readers=ctx.readers, settings=settings
        )
        forwarder.start()
        ctx.loops["alertmanager"] = forwarder
        retention = RetentionLoop(ctx.engine, settings)
        if replica is None:
            await scraper.start()
            retention.start()
            ctx.loops["scraper"] = scraper
            ctx.loops["retention"] = retention
        else:  # these two run on the leader only
            assert sharded is not None
            await replica.start(
                sharded, scraper=scraper, retention=retention, collection=collection
            )
        registry = RegistryRefresh(ctx.readers)
        registry.start()
        ctx.loops["registry"] = registry
        checkpointer = None
        if settings.is_sqlite:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # the writer's thread (core/db.py)
        if ctx.read_engine is not ctx.engine:  # SQLite with its own readers (core/checkpoint.py)
            checkpointer = WalCheckpointer(ctx.read_engine, writer=ctx.engine)
            checkpointer.start()
            ctx.loops["checkpoint"] = checkpointer
        log.info("started", database=ctx.engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            await scraper.stop()
            await ctx.ingest.stop()
            await bands.stop()
            await runner.drain()
            if replica is not None:
                await replica.stop()
            await runner.stop()
            await retention.stop()
            await forwarder.stop()
            await registry.stop()
            await groups.stop()
            await webhooks.stop()
            if checkpointer is not None:
                await checkpointer.stop()
            if ctx.read_engine is not ctx.engine:
                await ctx.read_engine.dispose()
            await ctx.engine.dispose()
            log.info("stopped")

    app = FastAPI(
        title="Perfpilot",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    install_openapi(app)
    app.state.ctx = ctx
    app.state.collection = collection
    install_error_handlers(app)
    app.include_router(metrics_router, prefix=API_PREFIX)
    app.include_router(series_router, prefix=API_PREFIX)
    app.include_router(trends_router, prefix=API_PREFIX)
    app.include_router(backtest_router, prefix=API_PREFIX)  # before /rules/{id}
    app.include_router(metric_types_router, prefix=API_PREFIX)
    app.include_router(rules_router, prefix=API_PREFIX)
    app.include_router(alerts_router, prefix=API_PREFIX)
    app.include_router(silences_router, prefix=API_PREFIX)
    app.include_router(alertmanager_router, prefix=API_PREFIX)
    app.include_router(webhooks_router, prefix=API_PREFIX)
    app.include_router(services_router, prefix=API_PREFIX)
    app.include_router(actions_router, prefix=API_PREFIX)
    app.include_router(autoscaling_router, prefix=API_PREFIX)
    app.include_router(prices_router, prefix=API_PREFIX)
    app.include_router(optimize_router, prefix=API_PREFIX)
    app.include_router(reports_router, prefix=API_PREFIX)
    app.include_router(live_router, prefix=API_PREFIX)
    app.include_router(monitoring_router, prefix=API_PREFIX)
    app.include_router(collection_router, prefix=API_PREFIX)
    app.include_router(targets_router, prefix=API_PREFIX)
    app.include_router(cluster_router, prefix=API_PREFIX)
    app.include_router(otlp_receiver)
    app.include_router(probes)
    if settings.ui:
        from perfpilot.ui.router import install_ui  # Jinja2 and the templates only when on

        install_ui(app, session_hours=settings.ui_session_hours)
    # valid single samples skip the framework (metrics/sample_route.py)
    sample_route = next(
        r for r in flat_routes(app.routes) if getattr(r, "endpoint", None) is post_metric
    )
    app.add_middleware(
        RequestFrameMiddleware,
        settings=settings,
        telemetry=ctx.telemetry,
        short_paths={("POST", f"{API_PREFIX}/metrics"): SamplePath(sample_route)},
    )
    return app
