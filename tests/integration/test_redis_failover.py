"""redis-server killed mid-run: calls keep succeeding on local state, none hangs, and the
shared state moves back to Redis once it is restarted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from genguard import Client
from genguard.errors import CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.observe import RecordingObserver
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.state.redis import from_config
from redis_server import RedisServer

#: No call may take longer than this, Redis dead or alive (the limiter spaces calls 10 ms).
CALL_BOUND = 1.0


async def test_killing_redis_mid_run_falls_back_to_local_and_returns(
    redis_server: RedisServer,
) -> None:
    observer = RecordingObserver()
    state = from_config(
        {
            "url": redis_server.url,
            "namespace": "failover",
            "connect_timeout": 0.25,
            "command_timeout": 0.25,
            "recheck_interval": 0.1,
        },
        observer=observer,
    )
    layers = [
        CircuitBreakerLayer(fail_max=5, store=state.breaker),
        RateLimitLayer(requests="100/s", backend=state.limiter),
    ]
    outcomes: list[tuple[float, float, BaseException | None]] = []
    async with Simulator("clean") as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, layers) as client:

            async def caller(index: int, stop_at: float) -> None:
                n = 0
                while time.monotonic() < stop_at:
                    n += 1
                    started = time.monotonic()
                    error: BaseException | None = None
                    try:
                        async with asyncio.timeout(CALL_BOUND * 3):
                            await client.generate(f"caller {index} take {n}")
                    except Exception as exc:  # recorded and asserted below
                        error = exc
                    outcomes.append((started, time.monotonic() - started, error))

            start = time.monotonic()
            run = asyncio.gather(*(caller(i, start + 3.0) for i in range(8)))
            await asyncio.sleep(1.0)
            redis_server.kill()
            killed_at = time.monotonic()
            await asyncio.sleep(1.0)
            assert state.limiter.degraded and state.breaker.degraded
            redis_server.start()  # fresh and empty, same port
            restarted_at = time.monotonic()
            await run
        async with Redis.from_url(redis_server.url, decode_responses=True) as admin:
            keys = set(await admin.keys("failover:*"))
    await state.limiter.aclose()
    await state.breaker.aclose()

    assert not [e for _, _, e in outcomes if e is not None]  # every call succeeded
    assert max(d for _, d, _ in outcomes) < CALL_BOUND  # and none hung
    during = [s for s, _, _ in outcomes if killed_at + 0.3 < s < restarted_at]
    assert len(during) > 20  # calls went on while Redis was dead
    assert all(r.status == 200 for r in sim.log)
    # One warning per store per outage, then back on Redis: its keys exist again.
    errors = observer.of("backend_error")
    assert sorted((e["component"], e["action"]) for e in errors) == [
        ("circuit_breaker", "local"),
        ("rate_limit", "local"),
    ]
    recovered = [n["component"] for n in observer.of("notice")]
    assert sorted(recovered) == ["circuit_breaker", "rate_limit"]
    assert not state.limiter.degraded and not state.breaker.degraded
    assert "failover:rl:{gemini/gemini-2.5-flash-image}" in keys


async def test_a_config_file_with_state_redis_shares_state_through_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from genguard.config import client_from_config

    file = tmp_path / "c.yaml"
    file.write_text(
        "version: 1\n"
        "profiles:\n"
        "  prod:\n"
        "    provider: {type: gemini, api_key: '${KEY}', base_url: '${SIM_URL}'}\n"
        "    layers:\n"
        "      - circuit_breaker: {fail_max: 2, reset_timeout: 30s}\n"
        "      - rate_limit: {requests: 50/s}\n"
        "    state: {backend: redis, url: '${REDIS_URL}', namespace: cfg}\n"
    )
    async with Simulator("outage", duration=60.0) as sim:
        env = {"SIM_URL": sim.base_url, "REDIS_URL": redis_server.url, "KEY": "sim-key"}
        # Two clients from one file: two "replicas", each with its own connections.
        async with (
            client_from_config(file, "prod", env=env) as one,
            client_from_config(file, "prod", env=env) as two,
        ):
            for _ in range(2):
                with pytest.raises(ProviderUnavailable):
                    await one.generate("a lighthouse")
            with pytest.raises(CircuitOpen):  # tripped by the other client
                await two.generate("a lighthouse")
        assert len(sim.log) == 2
    async with Redis.from_url(redis_server.url, decode_responses=True) as admin:
        keys = set(await admin.keys("cfg:*"))
    assert {
        "cfg:cb:{gemini/gemini-2.5-flash-image}",
        "cfg:rl:{gemini/gemini-2.5-flash-image}",
    } <= keys
