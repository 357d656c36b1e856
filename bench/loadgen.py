"""HTTP/1.1 load generator, run as its own process by bench/ingest.py.

A minimal keep-alive client on raw asyncio streams (uvloop when installed): request bytes are
built once, responses are read by Content-Length and only their status is checked. It costs a
fraction of what httpx or aiohttp would per request, which matters because it shares the
machine's cores with the server it measures. It prints one JSON object on stdout.

    python bench/loadgen.py closed --port P --path /x --token T --bodies DIR \
        --connections 32 --duration 10
    python bench/loadgen.py requests --port P ... --connections 4 --requests 40
    python bench/loadgen.py open --port P ... --rate 2000 --duration 10
    python bench/loadgen.py closed --method GET --port P --path '/x?limit=100' --token T ...
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Results:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    dropped: int = 0
    connections: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection; `send` writes a request and reads its response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length < 0:
            raise RuntimeError("response without Content-Length")
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def build_requests(args: argparse.Namespace) -> list[bytes]:
    if args.method == "GET":  # no body: --bodies is not read
        return [
            (
                f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
                f"Authorization: Bearer {args.token}\r\n\r\n"
            ).encode()
        ]
    head = (
        f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Authorization: Bearer {args.token}\r\nContent-Type: application/json\r\n"
    ).encode()
    requests = []
    for path in sorted(Path(args.bodies).glob("*.json")):
        body = path.read_bytes()
        requests.append(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    if not requests:
        raise SystemExit(f"no *.json bodies in {args.bodies}")
    return requests


async def run_closed(args: argparse.Namespace, requests: list[bytes], results: Results) -> float:
    """`connections` clients, each sending back to back until the duration or count is reached."""
    connections = [await Connection.open(args.host, args.port) for _ in range(args.connections)]
    bodies = itertools.cycle(requests)
    remaining = [args.requests if args.requests else -1]
    deadline = time.perf_counter() + args.duration if args.duration else float("inf")

    async def client(conn: Connection) -> None:
        while time.perf_counter() < deadline and remaining[0] != 0:
            remaining[0] -= 1
            started = time.perf_counter()
            try:
                status = await conn.send(next(bodies))
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                results.errors += 1
                return
            results.latencies.append(time.perf_counter() - started)
            results.statuses[status] += 1

    results.connections = len(connections)
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.perf_counter() - started
    for conn in connections:
        conn.close()
    return elapsed


async def run_open(args: argparse.Namespace, requests: list[bytes], results: Results) -> float:
    """Requests at a fixed rate whatever the server's pace; latency counts from the scheduled
    send time, so a stalled server or client shows up in it (no coordinated omission)."""
    loop = asyncio.get_running_loop()
    idle = [await Connection.open(args.host, args.port) for _ in range(args.connections)]
    opened = len(idle)
    bodies = itertools.cycle(requests)
    tasks: set[asyncio.Task[None]] = set()

    async def one(conn: Connection | None, scheduled: float) -> None:
        nonlocal opened
        try:
            if conn is None:
                conn = await Connection.open(args.host, args.port)
            status = await conn.send(next(bodies))
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            results.errors += 1
            return
        results.latencies.append(loop.time() - scheduled)
        results.statuses[status] += 1
        idle.append(conn)

    interval = 1.0 / args.rate
    total = int(args.rate * args.duration)
    start = loop.time()
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - loop.time()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        conn = idle.pop() if idle else None
        if conn is None:
            if opened >= args.max_connections:
                results.dropped += 1  # every connection is waiting: not sent, counted apart
                continue
            opened += 1
        task = asyncio.create_task(one(conn, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    for conn in idle:
        conn.close()
    results.connections = opened
    return elapsed


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summary(results: Results, elapsed: float, cpu: float) -> dict[str, Any]:
    lat = sorted(results.latencies)
    ms = 1000.0
    return {
        "elapsed_s": elapsed,
        "statuses": {str(k): v for k, v in results.statuses.items()},
        "errors": results.errors,
        "dropped": results.dropped,
        "connections": results.connections,
        "completed": len(lat),
        "p50_ms": percentile(lat, 0.50) * ms,
        "p90_ms": percentile(lat, 0.90) * ms,
        "p99_ms": percentile(lat, 0.99) * ms,
        "max_ms": (lat[-1] if lat else float("nan")) * ms,
        "mean_ms": (sum(lat) / len(lat) if lat else float("nan")) * ms,
        "cpu_s": cpu,
    }


def run_loop(coroutine: Coroutine[Any, Any, float]) -> float:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["closed", "requests", "open"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--bodies", default="", help="directory of *.json request bodies")
    parser.add_argument("--method", choices=["POST", "GET"], default="POST")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args()
    requests = build_requests(args)
    results = Results()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    runner = run_open if args.mode == "open" else run_closed
    elapsed = run_loop(runner(args, requests, results))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    json.dump(summary(results, elapsed, cpu), sys.stdout)


if __name__ == "__main__":
    main()
