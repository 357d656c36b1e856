"""All settings, from `PERFPILOT_*` environment variables (and a `.env` file)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

API_PREFIX = "/v1/ai-performance-optimization"

# URL schemes accepted for PERFPILOT_DATABASE_URL, and the async driver each one means
_DATABASE_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
DATABASE_URL_FORMS = "postgresql://user:password@host:5432/dbname or sqlite:///path/to/file.db"


class Settings(BaseSettings):
    """One Settings class: every knob of the process, with laptop-friendly defaults."""

    model_config = SettingsConfigDict(env_prefix="PERFPILOT_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".perfpilot")
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    jwt_secret: str | None = None
    jwt_public_key: str | None = Field(
        default=None, description="PEM public key (or a path to one) for RS256/ES256 tokens"
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30

    rate_limit_read: str = "600/minute"
    rate_limit_write: str = "6000/minute"
    rate_limit_ingest: str = "60000/minute"
    rate_limit_anonymous: str = "120/minute"
    rate_limit_enabled: bool = True

    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024

    group_commit_max_rows: int = 50_000
    # distinct label sets a service may have (DESIGN §9); a sample bringing one more is a 422
    cardinality_limit: int = Field(default=1000, ge=1)
    retention_days: int = 30
    retention_chunk_rows: int = 10_000
    retention_interval_seconds: float = 3600.0

    # webhook outbox: retries back off as uniform(0, min(cap, base * 2**(attempt-1)))
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    webhook_backoff_base_seconds: float = Field(default=2.0, gt=0)
    webhook_backoff_cap_seconds: float = Field(default=900.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_poll_interval_seconds: float = Field(default=0.5, gt=0)
    webhook_concurrency: int = Field(default=16, ge=1, le=1000)
    # /health alerts=false when a delivery is overdue or failing for this long ...
    webhook_stuck_after_seconds: float = Field(default=60.0, gt=0)
    # ... or when one was given up (dead) within this window
    webhook_dead_health_window_seconds: float = Field(default=900.0, ge=0)

    # Outbound address policy (DESIGN §10): CIDRs that webhooks (and scrape targets) may reach
    # although loopback or private, e.g. "127.0.0.0/8,10.1.0.0/16". Link-local and cloud
    # metadata addresses stay refused whatever this says.
    outbound_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # /metrics (Prometheus) without a token: only for a scraper on a trusted network
    metrics_public: bool = False
    # /metrics exports at most this many latest-value series (service x metric type), the most
    # recently updated; a series silent for no_data_after_seconds is dropped
    exposition_max_series: int = Field(default=10_000, ge=1)

    # collection (DESIGN §10): scrapes running at once, a scrape body's cap (bytes, decoded),
    # series per scrape; cumulative OTLP series whose last totals are kept (least recent go)
    scrape_concurrency: int = Field(default=64, ge=1, le=10_000)
    scrape_max_body_bytes: int = Field(default=10_000_000, ge=1024)
    scrape_max_series: int = Field(default=10_000, ge=1)
    otlp_max_series: int = Field(default=100_000, ge=1)

    # Alertmanager forwarding (DESIGN §13): base URLs (comma list) each open alert is posted
    # to (POST /api/v2/alerts), re-sent every `resend` seconds while open, ended on resolve
    alertmanager_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alertmanager_resend_seconds: float = Field(default=60.0, gt=0)
    alertmanager_timeout_seconds: float = Field(default=5.0, gt=0)
    alertmanager_poll_seconds: float = Field(default=1.0, gt=0)
    # the address people reach Perfpilot at, for links (an alert's generatorURL); default
    # http://<host>:<port>
    external_url: str | None = None

    engine_tick_seconds: float = 5.0
    no_data_after_seconds: float = 300.0
    # at start, windows are rebuilt from at most this many recent samples
    engine_restore_max_samples: int = 200_000

    # scale-out on PostgreSQL (DESIGN §12): several replicas share the engine by shards of
    # services, each owned by one live replica through an advisory lock. Every replica of a
    # deployment must use the same shard count.
    scale_out: bool = False
    shards: int = Field(default=64, ge=1, le=4096)
    # how often a replica checks its shards (take free ones, release extras, see others)
    shard_check_seconds: float = Field(default=1.0, gt=0)
    # the shard owner polls for new samples at least this often (NOTIFY wakes it sooner)
    shard_poll_seconds: float = Field(default=0.5, gt=0)

    # impact verification: wait `settle` after an action, then measure over `window`
    impact_settle_seconds: float = 60.0
    impact_window_seconds: float = 300.0
    # record what actions would do (status dry_run) without changing any desired state
    actions_dry_run: bool = False
    autoscaler_window_seconds: float = 60.0
    # anomalous rules: how often their forecast bands are checked and refitted when due
    anomaly_refresh_seconds: float = Field(default=10.0, gt=0, le=3600)

    # the dashboard (DESIGN §11) at /ui/, and / redirects there; false: API only
    ui: bool = True
    # a dashboard session lasts this long at most (never past its token's expiry)
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    access_log: bool = True

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _cidr_list(cls, value: object) -> object:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        try:
            return [
                str(ipaddress.ip_network(str(i).strip(), strict=False))
                for i in items
                if str(i).strip()
            ]
        except ValueError as exc:
            raise ValueError(f"must be a comma-separated list of CIDRs: {exc}") from exc

    @field_validator("alertmanager_urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        urls = [str(i).strip().rstrip("/") for i in items if str(i).strip()]
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) base URL")
        return urls

    @property
    def public_url(self) -> str:
        return (self.external_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        """`postgresql://` and `postgres://` mean asyncpg, `sqlite://` aiosqlite: the only
        drivers installed. The message never echoes the URL (it may hold a password)."""
        if value is None or not value.strip():
            return None
        scheme, separator, rest = value.strip().partition("://")
        driver = _DATABASE_DRIVERS.get(scheme.lower()) if separator else None
        if driver is None:
            shown = f"scheme {scheme!r}" if separator else "a URL without a scheme"
            raise ValueError(f"unsupported database URL ({shown}); use {DATABASE_URL_FORMS}")
        return f"{driver}://{rest}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'perfpilot.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
