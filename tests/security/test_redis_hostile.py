"""Items 6 and 7: a frozen Redis (SIGSTOP: connections accepted, nothing answered) is a
backend error within the call's deadline, and a cancelled half-open probe never leaks.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from genguard import Client
from genguard.errors import BadRequest, DeadlineExceeded, StateUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.observe import RecordingObserver
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Reply, Simulator
from genguard.state.redis import RedisState, from_config
from redis_server import RedisServer

DEADLINE = 0.5  # under the stores' own 1.5 s bound (connect 1 s + command 0.5 s)


def _state(redis_server: RedisServer, observer: RecordingObserver, **options: object) -> RedisState:
    return from_config(
        {"url": redis_server.url, "namespace": "hostile", **options}, observer=observer
    )


def _stack(state: RedisState) -> list[object]:
    return [
        RetryLayer(attempts=1),
        CircuitBreakerLayer(fail_max=5, store=state.breaker),
        RateLimitLayer(requests="1000/s", backend=state.limiter),
    ]


async def test_a_frozen_redis_switches_to_local_state_within_the_deadline(
    redis_server: RedisServer,
) -> None:
    observer = RecordingObserver()
    state = _state(redis_server, observer)
    outcomes: list[BaseException | None] = []
    async with Simulator() as sim:
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, _stack(state), deadline=DEADLINE) as client:  # type: ignore[arg-type]
            await client.generate("warm up on Redis")
            redis_server.freeze()
            try:
                for n in range(10):
                    try:
                        await client.generate(f"a cat, take {n}")
                        outcomes.append(None)
                    except DeadlineExceeded as exc:
                        outcomes.append(exc)
            finally:
                redis_server.thaw()
    await state.limiter.aclose()
    await state.breaker.aclose()
    assert outcomes.count(None) >= 8  # not a total outage: the fleet runs on local state
    assert state.limiter.switch.errors >= 1 and state.breaker.switch.errors >= 1
    actions = sorted((e["component"], e["action"]) for e in observer.of("backend_error"))
    assert ("circuit_breaker", "local") in actions and ("rate_limit", "local") in actions


async def test_a_frozen_redis_failing_closed_is_state_unavailable(
    redis_server: RedisServer,
) -> None:
    observer = RecordingObserver()
    state = _state(redis_server, observer, on_backend_error="fail_closed")
    async with Simulator() as sim:
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, _stack(state), deadline=DEADLINE) as client:  # type: ignore[arg-type]
            await client.generate("warm up on Redis")
            redis_server.freeze()
            try:
                with pytest.raises(StateUnavailable):
                    await client.generate("a cat")
            finally:
                redis_server.thaw()
    await state.limiter.aclose()
    await state.breaker.aclose()
    assert len(sim.log) == 1  # nothing ran outside the fleet's limits


async def test_a_cancelled_half_open_probe_gives_its_slot_back(redis_server: RedisServer) -> None:
    observer = RecordingObserver()
    state = _state(redis_server, observer)
    breaker = CircuitBreakerLayer(
        fail_max=1, reset_timeout=0.3, half_open_probes=1, store=state.breaker
    )
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(400), Reply.status(503)])
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, [breaker]) as client:
            with contextlib.suppress(Exception):
                await client.generate("a cat")  # 400: ignored by the breaker
            with contextlib.suppress(Exception):
                await client.generate("a cat")  # 503: trips it
            await asyncio.sleep(0.35)  # half-open: one probe may go
            redis_server.freeze()
            try:
                probe = asyncio.create_task(client.generate("the probe"))
                await asyncio.sleep(0.1)  # its acquire is waiting on Redis
                probe.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await probe
            finally:
                redis_server.thaw()
            key = "gemini/gemini-2.5-flash-image"
            for _ in range(100):  # Redis answers the acquire; the slot comes back
                snapshot = await breaker.snapshot(key)
                if snapshot.probes_in_flight == 0:
                    break
                await asyncio.sleep(0.02)
            assert snapshot.probes_in_flight == 0
            result = await client.generate("the next probe")  # not CircuitOpen
    await state.limiter.aclose()
    await state.breaker.aclose()
    assert result.images


async def test_a_refused_request_gives_its_images_back_to_the_shared_limiter(
    redis_server: RedisServer,
) -> None:
    # images 10/min on Redis: n=8 books the fleet's next minute. A 400 generated nothing.
    observer = RecordingObserver()
    state = _state(redis_server, observer)
    layer = RateLimitLayer(images="8/min", backend=state.limiter)
    async with Simulator() as sim:
        sim.script("gemini", [Reply.status(400)])
        provider = GeminiProvider("k", base_url=sim.base_url)
        async with Client(provider, [layer], deadline=2.0) as client:
            with pytest.raises(BadRequest):
                await client.generate("a cat", n=8)
            result = await client.generate("a cat", n=1)  # not RateLimited for a minute
    await state.limiter.aclose()
    await state.breaker.aclose()
    assert result.images
    assert state.limiter.switch.errors == 0  # it was Redis that gave the images back
