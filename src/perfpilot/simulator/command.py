"""`perfpilot simulate`: build a simulation from the command line's options and run it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from perfpilot.core.auth import Role, TokenAuthority, load_or_create_secret
from perfpilot.core.config import get_settings
from perfpilot.simulator.client import PushFailed
from perfpilot.simulator.model import MODELS
from perfpilot.simulator.profiles import PROFILE_NAMES, make_profile
from perfpilot.simulator.run import SimulationConfig, SimulationSummary, simulate


class SimulationError(Exception):
    """The run could not start or continue (the server refused or is unreachable)."""


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("--listen must be host:port, e.g. 127.0.0.1:9000")
    return host or "127.0.0.1", int(port)


def local_token(*, admin: bool, subject: str) -> str:
    """A token minted with this machine's secret (as `perfpilot token` does): operator to push
    and read, admin to subscribe to webhooks. Valid 7 days."""
    settings = get_settings()
    secret, _ = load_or_create_secret(settings)
    return TokenAuthority(settings, secret=secret).mint(
        role=Role.admin if admin else Role.operator, subject=subject, ttl_seconds=7 * 86400
    )


def describe(summary: SimulationSummary) -> str:
    def stamp(ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    lines = [
        f"Simulated {summary.steps} steps ({stamp(summary.first_sample_at)} .. "
        f"{stamp(summary.last_sample_at)}): {summary.samples_pushed} samples pushed, "
        f"{summary.samples_dropped} dropped, {summary.push_failures} failed pushes.",
    ]
    for applied in summary.applied:
        lines.append(
            f"  {stamp(applied.at)} state v{applied.version}: {'; '.join(applied.changes)}"
        )
    return "\n".join(lines)


def run_simulate(
    *,
    url: str,
    token: str | None,
    service: str,
    profile: str,
    seed: int,
    speed: float,
    duration: float | None,
    model: str,
    instances: int,
    rate: float,
    peak: float,
    follow: str,
    listen: str,
    echo: Callable[[str], None],
) -> str:
    """Validate the options, run until the duration ends (or Ctrl-C, SIGTERM), return a
    summary. Without a token, one is minted with the local secret."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"--profile must be one of {', '.join(PROFILE_NAMES)}")
    if model not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)}")
    if follow not in ("poll", "webhook"):
        raise ValueError("--follow must be poll or webhook")
    if speed <= 0 or (speed != 1 and duration is None):
        raise ValueError("--speed must be > 0, and a speed other than 1 needs --duration")
    if instances < 1 or rate < 0 or peak < 0:
        raise ValueError("--instances must be >= 1, --rate and --peak >= 0")
    host, port = _listen(listen)
    if token is None:
        token = local_token(admin=follow == "webhook", subject=f"simulate:{service}")
    now = datetime.now(UTC)
    config = SimulationConfig(
        service=service,
        model=model,
        instances=instances,
        profile=make_profile(
            profile,
            rate=rate,
            peak=peak,
            offset=now.hour * 3600 + now.minute * 60 + now.second,
        ),
        seed=seed,
        follow="webhook" if follow == "webhook" else "poll",
        listen_host=host,
        listen_port=port,
    )
    how = "in real time" if speed == 1 else f"at {speed:g}x, dated in the past"
    echo(f"Simulating {service} ({model}, {profile} profile, seed {seed}) {how} -> {url}")
    stop = asyncio.Event()

    async def main() -> SimulationSummary:
        # SIGTERM stops like Ctrl-C: at the next step, after pushing what is buffered
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        task = asyncio.create_task(
            simulate(config, url=url, token=token, duration=duration, speed=speed, stop=stop)
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:  # Ctrl-C: stop at the next step, push what is left
            stop.set()
            return await task

    started = time.monotonic()
    summary = SimulationSummary()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            summary = asyncio.run(main())
    except httpx.HTTPStatusError as exc:
        response = exc.response
        raise SimulationError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:300]}"
        ) from None
    except httpx.TransportError as exc:
        raise SimulationError(f"cannot reach {url}: {exc!r}") from None
    except PushFailed as exc:
        raise SimulationError(str(exc)) from None
    return describe(summary) + f"\nWall time {time.monotonic() - started:.1f}s."
