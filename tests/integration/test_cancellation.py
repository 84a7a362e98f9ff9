"""Cancelling a call in flight through the whole stack, over real HTTP: the cancellation
reaches the caller at once, and nothing is left behind: no concurrency permit, no
half-open probe slot, no checked-out connection, no task.

The stack is the documented order (telemetry, safety, retry, circuit breaker, rate
limit, timeout) on a fake clock that moves only when the test says so; the simulator
holds the in-flight request for a minute, far longer than anything here waits.
"""

from __future__ import annotations

import asyncio

import pytest

from genguard import Client, RecordingObserver
from genguard.clock import FakeClock
from genguard.errors import BulkheadFull, CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Layer
from genguard.providers.transport import HttpTransport
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Reply, Simulator
from support import drive, provider_for, until

KEY = "gemini/gemini-2.5-flash-image"
RESET = 10.0


def stack(breaker: CircuitBreakerLayer, limiter: RateLimitLayer) -> list[Layer]:
    return [
        TelemetryLayer(logs=False),
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(attempts=2, initial=0.1),
        breaker,
        limiter,
        TimeoutLayer(30.0),
    ]


def genguard_tasks() -> list[asyncio.Task[object]]:
    """Tasks still running code of the library (watchdogs, timers), the caller's excepted."""
    current = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks()
        if t is not current and "/genguard/" in t.get_coro().cr_code.co_filename
    ]


async def cancel_in_flight(client: Client, sim: Simulator) -> None:
    """Start a call, wait until its request is held by the server, cancel it."""
    task = asyncio.create_task(client.generate("a lighthouse, held"))
    await until(lambda: sim.pending_scripts() == 0, "the request to reach the server")
    await asyncio.sleep(0)
    # An attempt in flight runs its deadline watchdog: the check after the cancellation
    # can see a leaked one.
    assert genguard_tasks()
    task.cancel()
    for _ in range(5):  # "at once": within a few turns of the event loop, not a timeout
        await asyncio.sleep(0)
    assert task.cancelled()


@pytest.mark.parametrize("state", ["closed", "half_open"])
async def test_a_cancelled_call_leaks_no_permit_no_probe_and_no_connection(state: str) -> None:
    clock = FakeClock(auto=False)
    recorder = RecordingObserver()
    breaker = CircuitBreakerLayer(fail_max=1, reset_timeout=RESET, half_open_probes=1)
    # One attempt in flight at a time and no queue: a leaked permit refuses the next call.
    limiter = RateLimitLayer(requests="1000/s", concurrency=1, queue=0)
    transport = HttpTransport()
    async with Simulator(clock=clock) as sim:
        provider = provider_for("gemini", sim.base_url)
        layers = stack(breaker, limiter)
        async with Client(
            provider, layers, observer=recorder, clock=clock, transport=transport
        ) as client:
            if state == "half_open":
                sim.script("gemini", [Reply.status(503)])
                (tripped,) = await drive(clock, [client.generate("a lighthouse, tripping")])
                assert isinstance(tripped, ProviderUnavailable | CircuitOpen), tripped
                assert (await breaker.snapshot(KEY, clock=clock)).state == "open"
                clock.advance(RESET)  # the next call is the one probe
            sim.script("gemini", [Reply.delay(60)])
            await cancel_in_flight(client, sim)

            # Nothing left behind: no connection checked out, no genguard task running...
            session = transport.session
            assert session is not None and session.connector is not None
            assert not session.connector._acquired
            assert genguard_tasks() == []
            snapshot = await breaker.snapshot(KEY, clock=clock)
            assert snapshot.probes_in_flight == 0
            # ...and the next call gets the permit and (half-open) the probe slot.
            (result,) = await drive(clock, [client.generate("a lighthouse, next")])
            assert not isinstance(result, BulkheadFull | CircuitOpen), result
            assert not isinstance(result, BaseException), result
            assert (await breaker.snapshot(KEY, clock=clock)).state == "closed"
        # The server saw the client give up on the held request.
        await until(lambda: 499 in sim.status_counts, "the server to record the 499")
    await transport.aclose()
    assert recorder.of("call_finished")[-1]["result"] is not None
