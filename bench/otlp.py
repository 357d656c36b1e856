"""OTLP ingestion vs the JSON batch path (DESIGN §8, wave 2), in the same run.

    python bench/otlp.py [--seconds 15] [--connections 4] [--rounds 2]

Starts the real server (`perfpilot serve`, SQLite, production defaults) in its own process,
then alternates phases of the same load through two doors (which one goes first alternates
too: the store grows during the run, and a bigger store costs more per sample):
- JSON: POST /v1/ai-performance-optimization/metrics/batch, 10,000 samples per body;
- OTLP: POST /v1/metrics, application/x-protobuf, 10,000 gauge data points per export
  (vllm:num_requests_waiting -> queue_depth), built with opentelemetry-proto;
the same samples either way: 10 services x 10 models, one value each per timestamp. It counts
the samples each door committed (201 `accepted`; OTLP points minus `rejected_data_points`),
checks the store holds them all, and prints samples/s per door, the ratio OTLP / JSON (the
target is >= 1) and the CPU used by the server and by everything else meanwhile.

    python bench/otlp.py --in-process [--requests 5] [--rounds 20] [--with-store]

CPU per sample instead, in this process (`time.process_time`: robust to a loaded machine).
Without `--with-store`, each door's own work on the same bodies: from the body's bytes to the
validated canonical samples the store takes (JSON: `parse_batch`, as POST /metrics/batch runs
it; OTLP: decoding, conversion and validation, the steps of POST /v1/metrics) — what comes
after (rows, the ingest writer) is the same code for both. With `--with-store`, whole
requests: the app (`create_app`, SQLite, its engine loops running) behind httpx's ASGI
transport, every thread's CPU, the store's included. Rounds alternate the doors (and which
goes first), so a change in the machine's load reaches both alike; it prints each round's
ratio OTLP / JSON and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from server import API, JWT_SECRET, Server, cpu_seconds, machine_busy_seconds

from perfpilot.app import create_app
from perfpilot.collection import otlp
from perfpilot.collection.convert import Conversion, ConvertOptions, convert_points
from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.mapping import builtin_table
from perfpilot.collection.sink import unit_accepted
from perfpilot.collection.validation import SampleCheck
from perfpilot.core.auth import Role
from perfpilot.core.config import Settings
from perfpilot.metrics.canonical import CanonicalSample, parse_batch

PER_BODY = 10_000
SERVICES = 10
MODELS = 10


def hours_ago_ns() -> int:
    """A start time for bodies: never "in the future", whole microseconds (what is stored)."""
    return time.time_ns() // 1000 * 1000 - 6 * 3600 * 10**9


def json_body(start_ns: int) -> bytes:
    samples = []
    for i in range(PER_BODY):
        seconds, micros = divmod((start_ns + i * 1_000_000) // 1000, 10**6)
        samples.append(
            {
                "serviceName": f"svc-{i % SERVICES}",
                "metricType": "queue_depth",
                "value": float((i // SERVICES) % 50),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
                + f".{micros:06d}Z",
                "labels": {"model_name": f"model-{(i // SERVICES) % MODELS}"},
            }
        )
    return json.dumps({"samples": samples}).encode()


def otlp_body(start_ns: int) -> bytes:
    request = ExportMetricsServiceRequest()
    per_service = PER_BODY // SERVICES
    for s in range(SERVICES):
        resource = request.resource_metrics.add()
        resource.resource.attributes.append(
            KeyValue(key="service.name", value={"string_value": f"svc-{s}"})
        )
        metric = resource.scope_metrics.add().metrics.add()
        metric.name = "vllm:num_requests_waiting"
        for j in range(per_service):
            point = metric.gauge.data_points.add()
            point.time_unix_nano = start_ns + (j * SERVICES + s) * 1_000_000
            point.as_double = float(j % 50)
            point.attributes.append(
                KeyValue(key="model_name", value={"string_value": f"model-{j % MODELS}"})
            )
    return request.SerializeToString()


async def phase(
    server: Server, token: str, door: str, seconds: float, connections: int, start_ns: int
) -> tuple[int, float, float, float]:
    """Samples committed, wall seconds, server CPU seconds, other CPU seconds."""
    url = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": f"Bearer {token}"}
    build = json_body if door == "json" else otlp_body
    # distinct timestamps per body, prepared before the clock starts
    bodies = [build(start_ns + k * PER_BODY * 1_000_000) for k in range(connections * 2)]
    committed = 0
    stop_at = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient, k: int) -> None:
        nonlocal committed
        n = 0
        while time.monotonic() < stop_at:
            body = bodies[(k + n * connections) % len(bodies)]
            n += 1
            if door == "json":
                r = await client.post(
                    server.api + "/metrics/batch",
                    content=body,
                    headers={**auth, "Content-Type": "application/json"},
                )
                assert r.status_code == 201, r.text[:300]
                committed += r.json()["data"]["accepted"]
            else:
                r = await client.post(
                    "/v1/metrics",
                    content=body,
                    headers={**auth, "Content-Type": "application/x-protobuf"},
                )
                assert r.status_code == 200, r.text[:300]
                answer = ExportMetricsServiceResponse.FromString(r.content)
                committed += PER_BODY - answer.partial_success.rejected_data_points
                assert not answer.partial_success.error_message, answer

    cpu0, busy0, t0 = cpu_seconds(server.pid), machine_busy_seconds(), time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client, k) for k in range(connections)))
    wall = time.monotonic() - t0
    server_cpu = cpu_seconds(server.pid) - cpu0
    other = machine_busy_seconds() - busy0 - server_cpu
    return committed, wall, server_cpu, other


async def main(seconds: float, connections: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data") as server:
        token = server.token("operator")
        totals = {"json": [0, 0.0, 0.0, 0.0], "otlp": [0, 0.0, 0.0, 0.0]}
        start_ns = hours_ago_ns()
        for r in range(rounds):
            for door in Rounds.order(r + 1):  # alternating: the store grows as it runs
                start_ns += 10**11  # fresh timestamps for every phase (bodies span 80 s)
                result = await phase(server, token, door, seconds, connections, start_ns)
                for i, v in enumerate(result):
                    totals[door][i] += v
                print(
                    f"round {r + 1} {door:4}: {result[0] / result[1]:10,.0f} samples/s, "
                    f"{result[0] / result[2]:8,.0f} per server CPU-second"
                )
        stored = server.stored_samples()
        sent = int(totals["json"][0] + totals["otlp"][0])
        print(f"stored {stored:,} samples, committed answers {sent:,}: equal={stored == sent}")
        rates = {door: t[0] / t[1] for door, t in totals.items()}
        for door, t in totals.items():
            print(
                f"{door:4}: {rates[door]:10,.0f} samples/s   server CPU {t[2] / t[1]:.2f} cores"
                f"   other processes {t[3] / t[1]:.2f} cores"
            )
        print(f"OTLP / JSON batch: {rates['otlp'] / rates['json']:.2f} (target >= 1)")
        # the machine is shared: samples per second of server CPU does not depend on how much
        # of a core the server got
        per_cpu = {door: t[0] / t[2] for door, t in totals.items()}
        print(
            f"per server CPU-second: json {per_cpu['json']:,.0f}, otlp {per_cpu['otlp']:,.0f}; "
            f"OTLP / JSON {per_cpu['otlp'] / per_cpu['json']:.2f}"
        )


def json_door(body: bytes) -> list[CanonicalSample]:
    samples = parse_batch(body)
    assert samples is not None
    return samples


_STATE = CumulativeState()
_OPTIONS = ConvertOptions(table=builtin_table(), unit_ok=unit_accepted)


def otlp_door(body: bytes) -> list[CanonicalSample]:
    """What POST /v1/metrics does before the ingest writer (otlp_router.export_metrics)."""
    export = otlp.decode_request(body, otlp.PROTOBUF)
    outcome = Conversion()
    check = SampleCheck()
    points = otlp.source_points(export, outcome)
    outcome.merge(convert_points(points, _STATE, _OPTIONS, check=check))
    assert not outcome.rejected, outcome.reasons
    valid = list(outcome.ready)
    for sample in outcome.samples:
        checked = check.collected(sample)
        assert not isinstance(checked, str), checked
        valid.append(checked)
    return valid


class Rounds:
    """CPU per sample of both doors, round by round, and their ratio."""

    def __init__(self) -> None:
        self.per_sample: dict[str, list[float]] = {"json": [], "otlp": []}
        self.ratios: list[float] = []

    @staticmethod
    def order(r: int) -> tuple[str, str]:
        return ("json", "otlp") if r % 2 else ("otlp", "json")

    def add(self, r: int, cpu: dict[str, float], samples: int) -> None:
        if r == 0:  # a warm-up: imports, caches, the first series
            return
        us = {door: 1e6 * seconds / samples for door, seconds in cpu.items()}
        for door, v in us.items():
            self.per_sample[door].append(v)
        self.ratios.append(us["otlp"] / us["json"])
        print(
            f"round {r:2}: CPU per sample json {us['json']:.2f} us, otlp {us['otlp']:.2f} us; "
            f"OTLP / JSON {self.ratios[-1]:.3f}   (load average {os.getloadavg()[0]:.1f})"
        )

    def summary(self) -> None:
        median = {door: statistics.median(v) for door, v in self.per_sample.items()}
        print(
            f"median CPU per sample: json {median['json']:.2f} us, otlp {median['otlp']:.2f} us;"
            f" median OTLP / JSON {statistics.median(self.ratios):.3f} (min "
            f"{min(self.ratios):.3f}, max {max(self.ratios):.3f}; target <= 1)"
        )


def doors(requests: int, rounds: int) -> None:
    """CPU per sample of each door's own work on the same bodies, alternating rounds."""
    convert = {"json": json_door, "otlp": otlp_door}
    start_ns = hours_ago_ns()
    bodies = {
        "json": [json_body(start_ns + k * PER_BODY * 10**6) for k in range(requests)],
        "otlp": [otlp_body(start_ns + k * PER_BODY * 10**6) for k in range(requests)],
    }
    # both doors give the same samples
    one = {door: convert[door](bodies[door][0]) for door in convert}
    shown = {
        door: sorted((s.service_name, s.timestamp, s.value, s.unit, dict(s.labels)) for s in v)
        for door, v in one.items()
    }
    assert shown["json"] == shown["otlp"], "the doors disagree"
    rounds_ = Rounds()
    for r in range(rounds + 1):
        cpu: dict[str, float] = {}
        for door in Rounds.order(r):
            gc.collect()
            started = time.process_time()
            for body in bodies[door]:
                assert len(convert[door](body)) == PER_BODY
            cpu[door] = time.process_time() - started
        rounds_.add(r, cpu, requests * PER_BODY)
    rounds_.summary()


async def post_timed(
    client: httpx.AsyncClient, door: str, bodies: list[bytes], token: str
) -> float:
    """This process's CPU seconds to post `bodies` through one door, one at a time."""
    auth = {"Authorization": f"Bearer {token}"}
    path, media, ok = (
        (API + "/metrics/batch", "application/json", 201)
        if door == "json"
        else ("/v1/metrics", "application/x-protobuf", 200)
    )
    started = time.process_time()
    for body in bodies:
        r = await client.post(path, content=body, headers={**auth, "Content-Type": media})
        assert r.status_code == ok, r.text[:300]
        if door == "otlp":
            answer = ExportMetricsServiceResponse.FromString(r.content)
            assert not answer.partial_success.rejected_data_points, answer
    return time.process_time() - started


async def whole_requests(requests: int, rounds: int) -> None:
    """CPU per sample of whole requests through the app in this process, alternating rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            jwt_secret=JWT_SECRET,
            rate_limit_enabled=False,
            access_log=False,
            log_level="WARNING",
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client,
        ):
            token = app.state.ctx.tokens.mint(role=Role.operator, subject="bench", ttl_seconds=7200)
            start_ns = hours_ago_ns()
            build = {"json": json_body, "otlp": otlp_body}
            rounds_ = Rounds()
            for r in range(rounds + 1):
                cpu: dict[str, float] = {}
                for door in Rounds.order(r):
                    start_ns += 10**11  # fresh timestamps for every phase
                    bodies = [build[door](start_ns + k * PER_BODY * 10**6) for k in range(requests)]
                    cpu[door] = await post_timed(client, door, bodies, token)
                rounds_.add(r, cpu, requests * PER_BODY)
        rounds_.summary()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=None, help="default 2, in process 20")
    parser.add_argument("--in-process", action="store_true", help="CPU per sample in process")
    parser.add_argument("--with-store", action="store_true", help="in process: whole requests")
    parser.add_argument("--requests", type=int, default=5, help="per door per round, in process")
    args = parser.parse_args()
    if args.in_process and args.with_store:
        asyncio.run(whole_requests(args.requests, args.rounds or 20))
    elif args.in_process:
        doors(args.requests, args.rounds or 20)
    else:
        asyncio.run(main(args.seconds, args.connections, args.rounds or 2))
