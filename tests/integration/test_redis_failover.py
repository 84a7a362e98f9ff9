"""redis-server killed mid-run: calls keep succeeding on local state, none hangs, and the
shared state moves back to Redis once it is restarted."""

from __future__ import annotations

import asyncio
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
from support.fake_time import HANG_GUARD
from support.redis_state import RECHECK, recheck_on_fake_time

pytestmark = pytest.mark.redis

#: Calls per phase: 8 concurrent callers, 5 calls each.
CALLERS, CALLS = 8, 5


async def test_killing_redis_mid_run_falls_back_to_local_and_returns(
    redis_server: RedisServer,
) -> None:
    """Phases, not a stopwatch: Redis alive, killed, restarted; every call succeeds in each,
    and while Redis is dead exactly one operation per store waits on it (its timeouts)."""
    observer = RecordingObserver()
    state = from_config(
        {
            "url": redis_server.url,
            "namespace": "failover",
            "connect_timeout": 0.25,
            "command_timeout": 0.25,
        },
        observer=observer,
    )
    clock = recheck_on_fake_time(state.limiter, observer)
    recheck_on_fake_time(state.breaker, observer, clock)
    layers = [
        CircuitBreakerLayer(fail_max=5, store=state.breaker),
        RateLimitLayer(requests="1000/s", backend=state.limiter),
    ]
    async with Simulator("clean") as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, layers) as client:

            async def phase(name: str) -> list[BaseException | None]:
                async def caller(index: int) -> list[BaseException | None]:
                    errors: list[BaseException | None] = []
                    for n in range(CALLS):
                        try:  # the timeout is a hang guard, not a speed bound
                            async with asyncio.timeout(HANG_GUARD):
                                await client.generate(f"{name}: caller {index} take {n}")
                            errors.append(None)
                        except Exception as exc:  # recorded and asserted below
                            errors.append(exc)
                    return errors

                per_caller = await asyncio.gather(*(caller(i) for i in range(CALLERS)))
                return [e for errors in per_caller for e in errors]

            assert await phase("alive") == [None] * CALLERS * CALLS
            assert state.limiter.switch.errors == state.breaker.switch.errors == 0
            redis_server.kill()
            assert await phase("dead") == [None] * CALLERS * CALLS  # calls went on, locally
            assert state.limiter.degraded and state.breaker.degraded
            # Only operations already under way when it died met the dead server (at most
            # one per caller); once local, nobody waits on it until the recheck is due.
            met = (state.limiter.switch.errors, state.breaker.switch.errors)
            assert all(1 <= n <= CALLERS for n in met), met
            assert await phase("still dead") == [None] * CALLERS * CALLS
            assert (state.limiter.switch.errors, state.breaker.switch.errors) == met
            redis_server.start()  # fresh and empty, same port
            clock.advance(RECHECK)
            assert await phase("back") == [None] * CALLERS * CALLS
        async with Redis.from_url(redis_server.url, decode_responses=True) as admin:
            keys = set(await admin.keys("failover:*"))
    await state.limiter.aclose()
    await state.breaker.aclose()

    assert sim.requests == 4 * CALLERS * CALLS
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
