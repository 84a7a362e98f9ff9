"""A Redis outage in the metrics: state on Redis, Redis unreachable, calls go on locally.

A policy file puts the rate limiter's and the circuit breaker's state on Redis and
turns the telemetry layer on. The application configures the OpenTelemetry SDK
(here with an in-memory metric reader). When Redis cannot be reached, each store
falls back to local state once per outage and says so to the observer of the call
that met the failure, the one the telemetry layer listens to: the outage shows in
``genguard.backend.errors``, per store, while every call still succeeds.

    python examples/redis_outage_metrics.py                        # no Redis listening
    REDIS_URL=redis://127.0.0.1:6379/0 python examples/redis_outage_metrics.py  # a live one
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from pathlib import Path

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from genguard.config import client_from_config
from genguard.sim import Simulator

POLICY = """\
version: 1
profiles:
  prod:
    provider: {type: gemini, api_key: '${KEY}', base_url: '${SIM_URL}'}
    layers:
      - telemetry: {}
      - circuit_breaker: {fail_max: 5}
      - rate_limit: {requests: 20/s}
    state:
      backend: redis
      url: '${REDIS_URL}'
      on_backend_error: local
      connect_timeout: 250ms
      command_timeout: 250ms
"""


def unused_redis_url() -> str:
    """A loopback port nobody listens on: Redis is "down" from the start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def backend_errors(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != "genguard.backend.errors":
                    continue
                for point in metric.data.data_points:
                    attrs = point.attributes or {}
                    key = (
                        str(attrs.get("genguard.backend.component")),
                        str(attrs.get("genguard.backend.action")),
                    )
                    counts[key] = counts.get(key, 0) + int(point.value)
    return counts


async def main() -> None:
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # the app's SDK
    redis_url = os.environ.get("REDIS_URL") or unused_redis_url()
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policy.yaml"
        policy.write_text(POLICY)
        async with Simulator("clean") as sim:
            env = {"KEY": "sim-key", "SIM_URL": sim.base_url, "REDIS_URL": redis_url}
            async with client_from_config(policy, "prod", env=env) as client:
                for n in range(5):
                    result = await client.generate(f"a paper crane, take {n}")
                    print(f"call {n}: {len(result.images)} image(s)")
    print(f"Redis at {redis_url}; backend errors from the metrics:")
    for (component, action), count in sorted(backend_errors(reader).items()):
        print(f"  genguard.backend.errors{{component={component}, action={action}}} = {count}")


if __name__ == "__main__":
    asyncio.run(main())
