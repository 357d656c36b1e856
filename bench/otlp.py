"""OTLP ingestion vs the JSON batch path (DESIGN §8, wave 2), in the same run.

    python bench/otlp.py [--seconds 15] [--connections 4]

Starts the real server (`perfpilot serve`, SQLite, production defaults) in its own process,
then alternates phases of the same load through two doors:
- JSON: POST /v1/ai-performance-optimization/metrics/batch, 10,000 samples per body;
- OTLP: POST /v1/metrics, application/x-protobuf, 10,000 gauge data points per export
  (vllm:num_requests_waiting -> queue_depth), built with opentelemetry-proto;
the same samples either way: 10 services x 10 models, one value each per timestamp. It counts
the samples each door committed (201 `accepted`; OTLP points minus `rejected_data_points`),
checks the store holds them all, and prints samples/s per door, the ratio OTLP / JSON (the
target is >= 1) and the CPU used by the server and by everything else meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from server import Server, cpu_seconds, machine_busy_seconds

PER_BODY = 10_000
SERVICES = 10
MODELS = 10


def json_body(start_ns: int) -> bytes:
    samples = []
    for i in range(PER_BODY):
        ts = (start_ns + i * 1_000_000) / 1e9
        samples.append(
            {
                "serviceName": f"svc-{i % SERVICES}",
                "metricType": "queue_depth",
                "value": float(i % 50),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
                + f".{int(ts * 1e6) % 1_000_000:06d}Z",
                "labels": {"model": f"model-{(i // SERVICES) % MODELS}"},
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
        start_ns = time.time_ns() - 6 * 3600 * 10**9  # hours ago: never "in the future"
        for r in range(rounds):
            for door in ("json", "otlp"):
                start_ns += 10**11  # fresh timestamps for every phase (bodies span 80 s)
                result = await phase(server, token, door, seconds, connections, start_ns)
                for i, v in enumerate(result):
                    totals[door][i] += v
                print(f"round {r + 1} {door:4}: {result[0] / result[1]:10,.0f} samples/s")
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.connections, args.rounds))
