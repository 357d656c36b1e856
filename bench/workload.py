"""The samples the benchmark pushes, and the rows the app stores for them (for the baseline)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from perfpilot.metrics.units import METRIC_SPECS, conversion_factor

BATCH_SIZE = 10_000

# (type, unit sent, value range in that unit): a realistic mix, with unit conversions
_KINDS: list[tuple[str, str | None, float, float]] = [
    ("latency", "ms", 5.0, 4000.0),
    ("latency", "s", 0.005, 4.0),
    ("latency", None, 5.0, 4000.0),
    ("throughput", "rps", 1.0, 900.0),
    ("throughput", "rpm", 60.0, 54000.0),
    ("accuracy", "percent", 80.0, 99.9),
    ("cost", "usd", 0.00001, 0.05),
    ("memory", "gb", 0.5, 64.0),
    ("cpu", "percent", 1.0, 180.0),
    ("error_rate", "ratio", 0.0, 0.2),
    ("success_rate", "percent", 80.0, 100.0),
]
_MODELS = ["gpt-4o", "gpt-4o-mini", "llama-3.1-70b", "mistral-large", "text-embedding-3"]
SERVICES = [f"ai-service-{i:02d}" for i in range(20)]


def sample(rng: random.Random, ts: datetime | None, seq: int) -> dict[str, Any]:
    metric_type, unit, low, high = rng.choice(_KINDS)
    item: dict[str, Any] = {
        "serviceName": rng.choice(SERVICES),
        "metricType": metric_type,
        "value": round(rng.uniform(low, high), 6),
    }
    if unit is not None:
        item["unit"] = unit
    if ts is not None:
        item["timestamp"] = ts.isoformat()
    item["metadata"] = {"model": rng.choice(_MODELS), "requestId": f"req-{seq}"}
    return item


def batch_bodies(count: int, *, seed: int = 7) -> list[bytes]:
    """`count` distinct bodies of BATCH_SIZE samples. Timestamps (with microseconds) run
    forward over the last hour, a little out of order within a batch, as exporters push them."""
    rng = random.Random(seed)
    total = count * BATCH_SIZE
    start = datetime.now(UTC) - timedelta(hours=1)
    step_us = 3_500_000_000 // total
    bodies = []
    for b in range(count):
        samples = []
        for i in range(b * BATCH_SIZE, (b + 1) * BATCH_SIZE):
            jitter = rng.randrange(2_000_000)
            samples.append(sample(rng, start + timedelta(microseconds=i * step_us + jitter), i))
        bodies.append(json.dumps({"samples": samples}).encode())
    return bodies


def single_bodies(count: int, *, seed: int = 11) -> list[bytes]:
    """One-sample bodies without a timestamp (server time), like the seed's example."""
    rng = random.Random(seed)
    return [json.dumps(sample(rng, None, i)).encode() for i in range(count)]


def write_bodies(directory: Path, bodies: list[bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, body in enumerate(bodies):
        (directory / f"{i:05d}.json").write_bytes(body)
    return directory


StoredRow = tuple[str, str, str, float, str, str, str]


def stored_rows(body: bytes) -> list[StoredRow]:
    """The rows the app stores for a batch body, in SQLite storage form: 32-hex uuid, canonical
    value and unit, naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff', metadata as JSON text."""
    rows = []
    for item in json.loads(body)["samples"]:
        metric_type = item["metricType"]
        ts = datetime.fromisoformat(item["timestamp"]).astimezone(UTC).replace(tzinfo=None)
        rows.append(
            (
                uuid.uuid4().hex,
                item["serviceName"],
                metric_type,
                item["value"] * conversion_factor(metric_type, item.get("unit")),
                METRIC_SPECS[metric_type].canonical,
                ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                json.dumps(item["metadata"]),
            )
        )
    return rows
