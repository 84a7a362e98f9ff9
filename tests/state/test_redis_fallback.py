"""When Redis fails: local state with a warning and an event (or refusal), bounded waits,
and the way back once Redis answers again. A real redis-server, killed and frozen by pid."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from genguard.clock import FakeClock
from genguard.errors import StateUnavailable
from genguard.observe import RecordingObserver
from genguard.state.breaker import BreakerPolicy
from genguard.state.fallback import BackendSwitch
from genguard.state.limiter import Demand, Limit
from genguard.state.redis import (
    RedisBreakerStore,
    RedisLimiterBackend,
    RedisState,
    from_config,
    mask_url,
)
from redis_server import RedisServer
from support import until
from support.redis_state import RECHECK, recheck_on_fake_time

pytestmark = pytest.mark.redis

REQ = Limit("requests", 10.0)
ONE = [Demand(REQ, 1.0)]
FAST = {"connect_timeout": 0.2, "command_timeout": 0.2}
#: Round trips one operation may send: EVALSHA, and after NOSCRIPT a SCRIPT LOAD and EVALSHA.
ONE_OPERATION = 3


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


async def test_a_dead_redis_means_local_state_one_warning_then_back_to_redis(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    observer = RecordingObserver()
    backend = RedisLimiterBackend.from_url(server.url, observer=observer, **FAST)  # type: ignore[arg-type]
    try:
        assert (await backend.reserve("k", ONE)).wait == 0.0
        booked = await backend.reserve("k", ONE)
        assert booked.wait > 0
        clock = recheck_on_fake_time(backend, observer)
        server.kill()
        sent = backend.connection.round_trips
        with caplog.at_level(logging.WARNING, logger="genguard.state"):
            for _ in range(20):  # every call goes on, on local state
                assert (await backend.reserve("k", ONE)).granted
        # Nothing waited on the dead server: one attempt found it dead, the rest stayed local.
        assert backend.switch.errors == 1 and backend.connection.round_trips - sent <= ONE_OPERATION
        assert backend.degraded
        assert (await backend.confirm(booked)).wait == 0.0  # booked fleet-wide: go
        await backend.cancel(await backend.reserve("k", ONE))  # never raises
        events = observer.of("backend_error")
        assert [(e["component"], e["action"]) for e in events] == [("rate_limit", "local")]
        assert sum("using local state" in r.getMessage() for r in caplog.records) == 1
        assert backend.switch.fallbacks == 1

        server.start()  # a fresh, empty Redis on the same port
        assert not (await backend.reserve("back", ONE)).wait and backend.degraded  # not yet
        clock.advance(RECHECK)  # the recheck interval
        fresh = await backend.reserve("back", ONE)
        assert fresh.wait == 0.0 and not backend.degraded
        assert [e["event"] for e in observer.of("notice")] == ["state_backend_recovered"]
        async with Redis.from_url(server.url) as admin:
            assert await admin.exists("genguard:rl:{back}") == 1  # state lives in Redis again
    finally:
        await backend.aclose()


async def test_fail_closed_refuses_at_once_and_recovers_by_itself(server: RedisServer) -> None:
    observer = RecordingObserver()
    store = RedisBreakerStore.from_url(
        server.url,
        on_backend_error="fail_closed",
        observer=observer,
        **FAST,  # type: ignore[arg-type]
    )
    policy = BreakerPolicy()
    try:
        assert (await store.acquire("k", policy, 0.0)).allowed
        recheck_on_fake_time(store, observer)
        server.kill()
        sent = store.connection.round_trips
        with pytest.raises(StateUnavailable) as info:
            await store.acquire("k", policy, 0.0)
        # Refused at once: one attempt (a refused connection), no retries, no local state.
        assert store.connection.round_trips - sent <= ONE_OPERATION and store.switch.errors == 1
        assert not store.degraded
        assert info.value.retryable and info.value.component == "circuit_breaker"
        assert observer.of("backend_error")[0]["action"] == "fail_closed"
        server.start()
        assert (await store.acquire("k", policy, 0.0)).allowed
    finally:
        await store.aclose()


async def test_a_frozen_redis_costs_at_most_the_timeouts_once_per_recheck(
    server: RedisServer,
) -> None:
    limiter = RedisLimiterBackend.from_url(server.url, **FAST)  # type: ignore[arg-type]
    breaker = RedisBreakerStore.from_url(server.url, **FAST)  # type: ignore[arg-type]
    policy = BreakerPolicy(fail_max=1)
    try:
        await limiter.reserve("k", ONE)
        await breaker.acquire("k", policy, 0.0)
        limiter_clock, breaker_clock = recheck_on_fake_time(limiter), recheck_on_fake_time(breaker)
        server.freeze()  # accepts, never answers
        assert (await limiter.reserve("k", ONE)).granted
        admission = await breaker.acquire("k", policy, 0.0)
        assert admission.permit is not None
        assert await breaker.record(admission.permit, "failure", policy, 0.0)  # local trips
        # Each store waited on the frozen server once (its timeouts), then went local.
        assert limiter.switch.errors == 1 and breaker.switch.errors == 1
        sent = limiter.connection.round_trips
        for _ in range(50):
            await limiter.reserve("k", ONE)
        assert limiter.connection.round_trips == sent  # nothing else waited on it
        limiter_clock.advance(RECHECK)
        breaker_clock.advance(RECHECK)
        for _ in range(50):
            await limiter.reserve("k", ONE)
        # Once per recheck interval, one operation tries again (and waits its timeouts).
        assert limiter.switch.errors == 2 and limiter.connection.round_trips - sent <= ONE_OPERATION
        assert limiter.degraded and breaker.degraded
    finally:
        server.thaw()
        await limiter.aclose()
        await breaker.aclose()


async def test_a_cancelled_call_on_a_frozen_redis_propagates_at_once(server: RedisServer) -> None:
    backend = RedisLimiterBackend.from_url(server.url, connect_timeout=5, command_timeout=5)
    try:
        await backend.reserve("k", ONE)
        server.freeze()
        sent = backend.connection.round_trips
        task = asyncio.create_task(backend.reserve("k", ONE))
        await until(lambda: backend.connection.round_trips > sent, "the command to be sent")
        task.cancel()
        for _ in range(5):  # "at once": within a few turns of the event loop, not a timeout
            await asyncio.sleep(0)
        assert task.done() and task.cancelled()
        assert not backend.degraded  # a cancellation is not a backend failure
        server.thaw()
        assert (await backend.reserve("k", ONE)).granted
    finally:
        server.thaw()
        await backend.aclose()


async def test_outcomes_of_redis_permits_are_dropped_while_local(server: RedisServer) -> None:
    store = RedisBreakerStore.from_url(server.url, **FAST)  # type: ignore[arg-type]
    policy = BreakerPolicy(fail_max=1)
    try:
        admission = await store.acquire("k", policy, 0.0)
        assert admission.permit is not None and admission.permit.token == "r"
        server.kill()
        local = await store.acquire("k", policy, 0.0)  # goes local
        assert store.degraded and local.permit is not None and local.permit.token is None
        assert await store.record(admission.permit, "failure", policy, 0.0) == ()
        assert (await store.snapshot("k", policy, 0.0)).state == "closed"
        assert [t.new for t in await store.record(local.permit, "failure", policy, 0.0)] == ["open"]
    finally:
        await store.aclose()


async def test_from_config_shares_one_connection_and_masks_the_password(
    server: RedisServer,
) -> None:
    state = {
        "backend": "redis",
        "url": f"redis://user:s3cret-pw@127.0.0.1:{server.port}/0",
        "namespace": "cfg",
        "on_backend_error": "local",
        "connect_timeout": 0.3,
        "command_timeout": 0.3,
    }
    built = from_config(state)
    assert isinstance(built, RedisState)
    try:
        assert built.limiter.connection is built.breaker.connection
        assert built.limiter.connection.command_timeout == 0.3
        for text in (repr(built.limiter), repr(built.breaker)):
            assert "s3cret-pw" not in text and "user:***@127.0.0.1" in text
    finally:
        await built.limiter.aclose()
        assert not built.breaker.connection._closed  # still used by the breaker
        await built.breaker.aclose()
        assert built.breaker.connection._closed
    assert mask_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert mask_url("redis://h:1/0") == "redis://h:1/0"


def test_the_switch_rechecks_once_per_interval() -> None:

    clock = FakeClock()
    switch = BackendSwitch("rate_limit", recheck_interval=2.0, clock=clock)
    assert switch.use_remote()
    switch.failed(ConnectionError("down"))
    assert not switch.use_remote()
    clock.advance(2.0)
    assert switch.use_remote()  # one recheck...
    assert not switch.use_remote()  # ...at a time
    switch.failed(ConnectionError("still down"))
    clock.advance(1.0)
    assert not switch.use_remote()
    clock.advance(1.0)
    assert switch.use_remote()
    switch.succeeded()
    assert not switch.degraded and switch.use_remote() and switch.recoveries == 1


async def test_the_limiter_fails_closed_too_and_no_call_reaches_the_provider(
    server: RedisServer,
) -> None:
    """``fail_closed`` on the limiter: with Redis dead, every attempt is refused with a
    retryable ``StateUnavailable`` before the provider is called; once Redis answers
    again, calls go through on Redis (never on local state)."""
    from genguard import Client
    from genguard.layers.rate_limit import RateLimitLayer
    from genguard.providers.static import StaticProvider

    observer = RecordingObserver()
    limiter = RedisLimiterBackend.from_url(
        server.url,
        on_backend_error="fail_closed",
        observer=observer,
        **FAST,  # type: ignore[arg-type]
    )
    clock = recheck_on_fake_time(limiter, observer)
    provider = StaticProvider()
    layer = RateLimitLayer(requests="1000/s", backend=limiter)
    try:
        async with Client(provider, [layer]) as client:
            await client.generate("before")
            server.kill()
            for _ in range(3):
                with pytest.raises(StateUnavailable) as info:
                    await client.generate("while dead")
                assert info.value.retryable and info.value.component == "rate_limit"
            assert provider.calls == 1  # nothing was sent while the limiter could not decide
            assert not limiter.degraded  # never local state
            assert [e["action"] for e in observer.of("backend_error")] == ["fail_closed"] * 3
            server.start()
            clock.advance(RECHECK)
            await client.generate("after")
            assert provider.calls == 2 and not limiter.degraded
        async with Redis.from_url(server.url) as admin:
            assert await admin.keys("genguard:rl:*")  # the state lives in Redis again
    finally:
        await limiter.aclose()
