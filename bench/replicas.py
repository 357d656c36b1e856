"""Scale-out benchmark (DESIGN §8 wave 2, §12): several `perfpilot serve` replicas on one
PostgreSQL.

    python bench/replicas.py [--seconds 15] [--kills 10]

Needs PostgreSQL (PERFPILOT_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/
test: a database of its own is created next to it and dropped at the end). One run:
1. ingestion: 1, 2 and 3 replicas (scale-out on, 10 wildcard rules), the same load each time:
   concurrent 1,000-sample batches spread round-robin over the replicas for --seconds; prints
   samples/s acknowledged (201) and how long the shard owners then took to evaluate them all
   (rows above their shard's watermark), with the ratio to 1 replica;
2. the two ways to write a group of sample rows on asyncpg, same rows, same table:
   executemany of an INSERT vs COPY (copy_records_to_table);
3. failover: 3 replicas; --kills times: SIGKILL the owner of a firing service's shard, post a
   recovering sample to a survivor at once, time kill → the alert resolved by the new owner
   (its first evaluation of that shard, committed); the killed replica is started again.

Everything runs on this machine: the replicas, PostgreSQL and the load share its cores, so
more replicas cannot go faster than the cores allow; the figures say what this machine did.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import jwt
from sqlalchemy import make_url

from perfpilot.cluster.shards import shard_of

ADMIN_URL = os.environ.get(
    "PERFPILOT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
API = "/v1/ai-performance-optimization"
SECRET = "bench-replicas-" + "s" * 40
SERVICES = [f"svc-{i:03d}" for i in range(200)]
SHARD_SQL = "mod(('x' || substr(md5(m.service_name), 1, 8))::bit(32)::bigint, 64)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token() -> str:
    now = int(time.time())
    claims = {"sub": "bench", "role": "admin", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class Replica:
    def __init__(self, name: str, url: str, tmp: Path, *, scale_out: bool = True) -> None:
        self.port = free_port()
        self.env = os.environ | {
            "PERFPILOT_DATABASE_URL": url,
            "PERFPILOT_DATA_DIR": str(tmp / name),
            "PERFPILOT_JWT_SECRET": SECRET,
            "PERFPILOT_PORT": str(self.port),
            "PERFPILOT_SCALE_OUT": "true" if scale_out else "false",
            "PERFPILOT_RATE_LIMIT_ENABLED": "false",
            "PERFPILOT_UI": "false",
            "PERFPILOT_ACCESS_LOG": "false",
            "PERFPILOT_LOG_LEVEL": "WARNING",
        }
        self.log = (tmp / f"{name}.log").open("ab")
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "perfpilot.cli", "serve", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=self.log,
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("replica did not become ready")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()


async def balanced(client: httpx.AsyncClient, alive: list[Replica]) -> dict[int, str]:
    share = -(-64 // len(alive))
    while True:
        shards = (await client.get(f"{alive[0].url}{API}/cluster/shards")).json()["data"]
        owners = {s["shard"]: s["owner"] for s in shards["shards"]}
        counts: dict[str | None, int] = {}
        for owner in owners.values():
            counts[owner] = counts.get(owner, 0) + 1
        if None not in counts and len(counts) == len(alive) and max(counts.values()) <= share:
            return {k: str(v) for k, v in owners.items()}
        await asyncio.sleep(0.1)


async def unevaluated(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM ai_performance_metrics m JOIN ai_engine_shards s "
            f"ON s.shard = {SHARD_SQL} WHERE m.ingest_xid >= s.watermark::text::xid8"
        )
    )


async def ingestion(
    url: str, dsn: str, tmp: Path, count: int, seconds: float, *, scale_out: bool = True
) -> dict[str, float]:
    """count = 0: one process with scale-out off (the baseline)."""
    group = [
        Replica(f"ingest{count}-{i}", url, tmp, scale_out=scale_out) for i in range(max(1, count))
    ]
    await asyncio.gather(*(r.start() for r in group))
    headers = {"Authorization": f"Bearer {token()}"}
    limits = httpx.Limits(max_connections=64)
    conn = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:
            if scale_out:
                await balanced(client, group)
            if count == 0:  # evaluated by every owner from then on: 10 rules on latency
                for k in range(10):
                    rule = {
                        "name": f"never {k}",
                        "condition": {"metric": "latency", "operator": "gt", "threshold": 1e9 + k},
                        "action": {"type": "cache_clear"},
                    }
                    await client.post(f"{group[0].url}{API}/rules", json=rule)
            now = datetime.now(UTC)
            batch = [
                {
                    "serviceName": SERVICES[i % len(SERVICES)],
                    "metricType": "latency",
                    "value": 100.0 + i % 50,
                    "timestamp": (now - timedelta(milliseconds=i)).isoformat(),
                }
                for i in range(1000)
            ]
            body = {"samples": batch}
            acked = 0
            deadline = time.monotonic() + seconds

            async def worker(n: int) -> None:
                nonlocal acked
                while time.monotonic() < deadline:
                    target = group[n % len(group)]
                    n += 1
                    r = await client.post(f"{target.url}{API}/metrics/batch", json=body)
                    if r.status_code != 201:
                        raise RuntimeError(f"batch refused: {r.status_code} {r.text[:200]}")
                    acked += len(batch)

            started = time.monotonic()
            await asyncio.gather(*(worker(n) for n in range(12)))
            took = time.monotonic() - started
            caught_up = time.monotonic()
            while scale_out and await unevaluated(conn):
                await asyncio.sleep(0.1)
            lag = time.monotonic() - caught_up
        stored = int(await conn.fetchval("SELECT count(*) FROM ai_performance_metrics"))
        assert stored == acked, (stored, acked)  # every 201 is a stored row, no more
        await conn.execute("TRUNCATE ai_performance_metrics")
    finally:
        await conn.close()
        await asyncio.gather(*(r.stop() for r in group))
    return {"rate": acked / took, "samples": acked, "catch_up": lag}


async def copy_vs_executemany(dsn: str, rows: int = 100_000) -> tuple[float, float]:
    now = datetime.now(UTC)
    records = [
        (uuid.uuid4(), SERVICES[i % 200], "latency", float(i), "ms", now, "{}", None)
        for i in range(rows)
    ]
    columns = ["id", "service_name", "metric_type", "value", "unit", "timestamp", "metadata",
               "series_id"]  # fmt: skip
    insert = (
        "INSERT INTO ai_performance_metrics (id, service_name, metric_type, value, unit, "
        "timestamp, metadata, series_id) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)"
    )
    conn = await asyncpg.connect(dsn)
    try:
        rates = []
        for how in ("executemany", "copy"):
            await conn.execute("TRUNCATE ai_performance_metrics")
            started = time.perf_counter()
            for i in range(0, rows, 10_000):
                chunk = records[i : i + 10_000]
                async with conn.transaction():
                    if how == "copy":
                        await conn.copy_records_to_table(
                            "ai_performance_metrics", records=chunk, columns=columns
                        )
                    else:
                        await conn.executemany(insert, chunk)
            rates.append(rows / (time.perf_counter() - started))
        await conn.execute("TRUNCATE ai_performance_metrics")
    finally:
        await conn.close()
    return rates[0], rates[1]


async def failover(url: str, tmp: Path, kills: int) -> list[float]:
    group = [Replica(f"failover-{i}", url, tmp) for i in range(3)]
    await asyncio.gather(*(r.start() for r in group))
    headers = {"Authorization": f"Bearer {token()}"}
    times = []
    try:
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            ids = {}
            for r in group:
                ids[(await client.get(f"{r.url}{API}/health")).json()["data"]["replica"]["id"]] = r
            rule = {
                "name": "slow",
                "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
                "action": {"type": "cache_clear"},
            }
            await client.post(f"{group[0].url}{API}/rules", json=rule)
            for k in range(kills):
                owners = await balanced(client, group)
                service = f"failover-{k}"
                body = {"serviceName": service, "metricType": "latency", "value": 2000}
                await client.post(f"{group[k % 3].url}{API}/metrics", json=body)
                while not (
                    await client.get(f"{group[0].url}{API}/alerts", params={"serviceName": service})
                ).json()["data"]:
                    await asyncio.sleep(0.02)
                victim = ids[owners[shard_of(service, 64)]]
                survivor = next(r for r in group if r is not victim)
                killed = time.monotonic()
                await victim.kill()
                body["value"] = 100
                await client.post(f"{survivor.url}{API}/metrics", json=body)
                while True:
                    alerts = (
                        await client.get(
                            f"{survivor.url}{API}/alerts", params={"serviceName": service}
                        )
                    ).json()["data"]
                    if alerts and alerts[0]["status"] == "resolved":
                        break
                    await asyncio.sleep(0.02)
                times.append(time.monotonic() - killed)
                await victim.start()
                new_id = (await client.get(f"{victim.url}{API}/health")).json()["data"]
                ids = {i: r for i, r in ids.items() if r is not victim}
                ids[new_id["replica"]["id"]] = victim
    finally:
        await asyncio.gather(*(r.stop() for r in group))
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    admin = make_url(ADMIN_URL).set(drivername="postgresql")
    name = f"perfpilot_bench_replicas_{os.getpid()}"
    admin_dsn = admin.render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = admin.set(database=name).render_as_string(hide_password=False)
    url = admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"machine: {os.cpu_count()} cores; PostgreSQL and every process share them")
            from perfpilot.core.db import create_engine
            from perfpilot.core.migrate import upgrade_database

            engine = create_engine(url)
            await upgrade_database(engine)
            await engine.dispose()
            results = {}
            base = await ingestion(url, dsn, Path(tmp), 0, args.seconds, scale_out=False)
            print(
                f"ingestion, one process, scale-out off (baseline): {base['rate']:,.0f} "
                f"samples/s acknowledged ({base['samples']:,} in {args.seconds:.0f} s)"
            )
            for count in (1, 2, 3):
                results[count] = await ingestion(url, dsn, Path(tmp), count, args.seconds)
                r = results[count]
                vs_one, vs_base = r["rate"] / results[1]["rate"], r["rate"] / base["rate"]
                print(
                    f"ingestion, {count} replica(s): {r['rate']:,.0f} samples/s acknowledged "
                    f"({r['samples']:,} in {args.seconds:.0f} s; x{vs_one:.2f} vs 1 replica, "
                    f"x{vs_base:.2f} vs the baseline); owners caught up {r['catch_up']:.2f} s "
                    "after the load"
                )
            many, copy = await copy_vs_executemany(dsn)
            print(
                f"group write of 100,000 rows in 10,000-row transactions: executemany "
                f"{many:,.0f} rows/s, COPY {copy:,.0f} rows/s (x{copy / many:.2f})"
            )
            if args.kills:
                times = await failover(url, Path(tmp), args.kills)
                print(
                    f"failover over {len(times)} SIGKILLs (kill -> alert resolved by the new "
                    f"owner): p50 {statistics.median(times):.2f} s, max {max(times):.2f} s"
                )
    finally:
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
