"""Waiting in the rate limiter costs one timer and one wake per planned turn.

A queued caller sleeps once on the call's clock for the whole wait; news about
the key (its quota spent by another caller) cuts the sleep short at once.
"""

from __future__ import annotations

import asyncio

import pytest

import support
from genguard.clock import FakeClock
from genguard.errors import QuotaExhausted
from genguard.layers.rate_limit import RateLimitLayer
from genguard.model import Call, GenerationResult, Image
from genguard.observe import RecordingObserver


def _result() -> GenerationResult:
    return GenerationResult(images=(Image(b"x"),), generation_id="g", provider="sim", model="m1")


async def _ok(call: Call) -> GenerationResult:
    return _result()


async def test_a_queued_call_sleeps_once_for_its_whole_wait() -> None:
    clock = FakeClock(start=0.0)
    layer = RateLimitLayer(requests="1/min", clock=clock)
    await layer(support.make_call(clock, RecordingObserver()), _ok)  # takes the one slot
    observer = RecordingObserver()
    await layer(support.make_call(clock, observer, deadline=120.0), _ok)
    assert clock.slept == [pytest.approx(60.0)]  # one sleep of a minute, not 240 steps
    assert clock.now() == pytest.approx(60.0)
    assert observer.of("limiter_waited")[0]["seconds"] == pytest.approx(60.0)


async def test_many_queued_calls_each_sleep_once() -> None:
    clock = FakeClock(start=0.0)
    layer = RateLimitLayer(requests="10/s", clock=clock)
    calls = [support.make_call(clock, RecordingObserver(), deadline=60.0) for _ in range(50)]
    await asyncio.gather(*(layer(call, _ok) for call in calls))
    assert len(clock.slept) == 49  # the first goes at once; each other wakes once
    assert clock.now() == pytest.approx(4.9)


async def test_a_spent_quota_wakes_the_waiters_at_once() -> None:
    clock = FakeClock(start=0.0, auto=False)
    layer = RateLimitLayer(requests="1/min", clock=clock)
    answer = asyncio.Event()

    async def spent_after_a_while(call: Call) -> GenerationResult:
        await answer.wait()
        raise QuotaExhausted("insufficient_quota", code="insufficient_quota")

    sent: list[Call] = []

    async def record(call: Call) -> GenerationResult:
        sent.append(call)
        return _result()

    first = asyncio.create_task(layer(support.make_call(clock), spent_after_a_while))
    for _ in range(20):
        await asyncio.sleep(0)
    waiter = asyncio.create_task(layer(support.make_call(clock, deadline=300.0), record))
    for _ in range(20):
        await asyncio.sleep(0)
    assert clock.pending == 1 and not waiter.done()  # asleep on its one timer, for a minute
    answer.set()  # the first call learns the quota is gone
    with pytest.raises(QuotaExhausted):
        await first
    with pytest.raises(QuotaExhausted) as refused:
        await waiter
    assert refused.value.local and sent == []
    assert clock.now() == 0.0  # woken without any time passing


async def test_an_outside_cancel_of_a_waiter_propagates() -> None:
    clock = FakeClock(start=0.0, auto=False)
    layer = RateLimitLayer(requests="1/min", clock=clock)
    await layer(support.make_call(clock, RecordingObserver()), _ok)
    waiter = asyncio.create_task(layer(support.make_call(clock, deadline=300.0), _ok))
    for _ in range(20):
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert layer._waiting == {}
