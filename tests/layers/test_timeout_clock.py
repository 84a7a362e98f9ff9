"""The timeout layer runs on the call's injected clock: a FakeClock fires it in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from genguard import Call, Client, GenerationResult
from genguard.clock import FakeClock
from genguard.errors import AttemptTimeout, DeadlineExceeded
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Handler
from genguard.providers.static import StaticProvider
from genguard.timer import Expiry


class Hang:
    """An attempt that waits on real time far longer than any test: only the timer ends it."""

    scope = "attempt"

    def __init__(self) -> None:
        self.cancelled = False

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await next(call)


class NapOnClock:
    """An attempt that sleeps ``seconds`` on the call's clock, then answers."""

    scope = "attempt"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        await call.clock.sleep(self.seconds)
        return await next(call)


async def test_attempt_timeout_fires_at_the_virtual_instant() -> None:
    clock = FakeClock(start=0.0, auto=False)
    hang = Hang()
    async with Client(StaticProvider(), [TimeoutLayer(30.0), hang], clock=clock) as client:
        task = asyncio.create_task(client.generate("x"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert clock.next_wake == pytest.approx(30.0)  # the one timer, at attempt start + 30
        clock.advance(29.999)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done()  # not a moment early
        clock.advance(0.001)
        with pytest.raises(AttemptTimeout) as info:
            await task
    assert hang.cancelled
    assert info.value.timeout == pytest.approx(30.0)
    assert clock.now() == pytest.approx(30.0)


async def test_deadline_on_the_fake_clock_bounds_the_attempt() -> None:
    clock = FakeClock(start=0.0, auto=False)
    async with Client(StaticProvider(), [TimeoutLayer(60.0), Hang()], clock=clock) as client:
        task = asyncio.create_task(client.generate("x", deadline=5.0))
        for _ in range(20):
            await asyncio.sleep(0)
        clock.advance(5.0)
        with pytest.raises(DeadlineExceeded, match="during attempt 1"):
            await task


async def test_an_attempt_that_ends_in_time_leaves_no_timer_behind() -> None:
    clock = FakeClock(start=0.0)
    async with Client(StaticProvider(), [TimeoutLayer(10.0), NapOnClock(9.0)], clock=clock) as c:
        result = await c.generate("x")
    assert result.images
    assert clock.now() == pytest.approx(9.0)
    assert clock.pending == 0


async def test_an_outside_cancellation_is_not_taken_for_the_timeout() -> None:
    clock = FakeClock(start=0.0, auto=False)
    hang = Hang()
    async with Client(StaticProvider(), [TimeoutLayer(30.0), hang], clock=clock) as client:
        task = asyncio.create_task(client.generate("x"))
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert hang.cancelled
    assert clock.pending == 0


async def test_expiry_withdraws_its_cancel_when_the_work_finishes_anyway() -> None:
    clock = FakeClock(start=0.0, auto=False)

    async def stubborn() -> str:
        expiry = Expiry(clock, 1.0)
        try:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return "finished anyway"  # swallows the cancellation
            return "unreachable"
        finally:
            expiry.close()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    clock.advance(1.0)
    assert await task == "finished anyway"
    assert task.cancelling() == 0
