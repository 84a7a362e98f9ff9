"""A shared-state store's failures reach the observer of the call they happened in.

The store (here a Redis limiter whose server refuses connections) was built with an
observer of its own; during a call its ``backend_error`` goes to ``call.observer``, the one
the telemetry layer installs, so it lands in the call's metrics, and is not reported twice
to an observer that call already forwards to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telemetry_support import FakeProvider, Metrics

from genguard import Client
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.observe import RecordingObserver
from genguard.state.limiter import Demand, Limit
from genguard.state.redis import RedisLimiterBackend
from support import free_port

BACKEND_ERRORS = "genguard.backend.errors"


@pytest.fixture
async def refused() -> AsyncIterator[str]:
    """A Redis URL nobody listens on: every command fails at once (connection refused)."""
    yield f"redis://127.0.0.1:{free_port()}/0"


def store(url: str, observer: RecordingObserver) -> RedisLimiterBackend:
    return RedisLimiterBackend.from_url(
        url, connect_timeout=0.5, command_timeout=0.5, observer=observer
    )


async def test_a_store_failure_during_a_call_reaches_that_calls_metrics(refused: str) -> None:
    metrics = Metrics()
    own, callers = RecordingObserver(), RecordingObserver()
    backend = store(refused, own)
    layers = [
        TelemetryLayer(meter_provider=metrics.provider, logs=False),
        RateLimitLayer(requests="100/s", backend=backend),
    ]
    async with Client(FakeProvider(), layers, observer=callers) as client:
        await client.generate("a lighthouse")
    await backend.aclose()

    assert backend.degraded
    labels = {"genguard__backend__component": "rate_limit", "genguard__backend__action": "local"}
    assert metrics.value(BACKEND_ERRORS, **labels) == 1
    # the call's observer chain (telemetry, then the client's observer) saw it once,
    # and the store's own observer, which that chain does not reach, saw it too
    assert [e["component"] for e in callers.of("backend_error")] == ["rate_limit"]
    assert [e["action"] for e in own.of("backend_error")] == ["local"]


async def test_one_observer_for_client_and_store_hears_the_failure_once(refused: str) -> None:
    metrics = Metrics()
    shared = RecordingObserver()
    backend = store(refused, shared)
    layers = [
        TelemetryLayer(meter_provider=metrics.provider, logs=False),
        RateLimitLayer(requests="100/s", backend=backend),
    ]
    async with Client(FakeProvider(), layers, observer=shared) as client:
        await client.generate("a lighthouse")
    await backend.aclose()
    assert len(shared.of("backend_error")) == 1
    assert metrics.value(BACKEND_ERRORS) == 1


async def test_without_telemetry_the_clients_observer_hears_it(refused: str) -> None:
    own, callers = RecordingObserver(), RecordingObserver()
    backend = store(refused, own)
    async with Client(
        FakeProvider(), [RateLimitLayer(requests="100/s", backend=backend)], observer=callers
    ) as client:
        await client.generate("a lighthouse")
    await backend.aclose()
    assert len(callers.of("backend_error")) == 1
    assert len(own.of("backend_error")) == 1


async def test_outside_any_call_the_stores_own_observer_hears_it(refused: str) -> None:
    own = RecordingObserver()
    backend = store(refused, own)
    try:
        assert (await backend.reserve("k", [Demand(Limit("requests", 10.0), 1.0)])).granted
    finally:
        await backend.aclose()
    assert [e["action"] for e in own.of("backend_error")] == ["local"]
