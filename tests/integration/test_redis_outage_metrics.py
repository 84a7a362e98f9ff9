"""A Redis outage shows in the metrics of a stack built from a policy file.

The file puts rate-limit and breaker state on a real redis-server and turns the
telemetry layer and the Prometheus endpoint on. Calls go to the simulator over
loopback; redis-server is killed mid-run; the next calls go on, on local state, and
the backend-error counter served at ``/metrics`` counts the outage per store.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from genguard.config import client_from_config
from genguard.sim import Simulator
from redis_server import RedisServer
from support import free_port

pytestmark = pytest.mark.redis

POLICY = """\
version: 1
profiles:
  prod:
    provider: {type: gemini, api_key: '${KEY}', base_url: '${SIM_URL}'}
    state: {backend: redis, url: '${REDIS_URL}', namespace: outage,
            connect_timeout: 250ms, command_timeout: 250ms}
    telemetry: {prometheus: {port: '${METRICS_PORT}'}}
    layers:
      - telemetry: {}
      - circuit_breaker: {fail_max: 3}
      - rate_limit: {requests: 1000/s}
"""


async def backend_errors(url: str) -> dict[tuple[str, str], float]:
    """The backend-error counter from the ``/metrics`` exposition, per (component, action)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("genguard_backend_errors"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = sample.labels
            key = (labels["genguard_backend_component"], labels["genguard_backend_action"])
            found[key] = found.get(key, 0.0) + sample.value
    return found


async def test_killing_redis_raises_the_backend_error_metric_of_a_config_built_stack(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    file = tmp_path / "policy.yaml"
    file.write_text(POLICY)
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    async with Simulator("clean") as sim:
        env = {
            "KEY": "sim-key",
            "SIM_URL": sim.base_url,
            "REDIS_URL": redis_server.url,
            "METRICS_PORT": str(port),
        }
        async with client_from_config(file, "prod", env=env) as client:
            for n in range(3):
                await client.generate(f"a lighthouse, take {n}")
            before = await backend_errors(metrics_url)
            redis_server.kill()
            for n in range(3):
                await client.generate(f"a lighthouse in the dark, take {n}")
            after = await backend_errors(metrics_url)
    assert len(sim.log) == 6 and all(r.status == 200 for r in sim.log)
    assert sum(before.values()) == 0
    # one fallback to local state per store, counted where the call's telemetry records
    assert after == {("rate_limit", "local"): 1.0, ("circuit_breaker", "local"): 1.0}
