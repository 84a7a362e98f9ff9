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


async def test_expiries_on_loop_time_fire_in_deadline_order_behind_one_loop_timer() -> None:
    """Expiries on the event loop's time share one heap: each fires at its own time (a
    later one made with an earlier deadline included), closed ones never fire, and the
    loop holds one timer for all of them."""
    fired: list[str] = []

    async def wait(name: str, seconds: float, close_first: bool = False) -> None:
        expiry = Expiry(None, seconds)
        try:
            if close_first:
                return
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if expiry.expired():
                fired.append(name)
                return
            raise
        finally:
            expiry.close()

    loop = asyncio.get_running_loop()
    closed = [asyncio.create_task(wait(f"closed{i}", 0.0, close_first=True)) for i in range(200)]
    late = asyncio.create_task(wait("late", 0.03))
    await asyncio.sleep(0)
    early = asyncio.create_task(wait("early", 0.01))
    for _ in range(3):  # the closed ones' timer comes up and the next is armed
        await asyncio.sleep(0)
    armed = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert len(armed) == 1  # one loop timer for every expiry
    await asyncio.gather(late, early, *closed)
    assert fired == ["early", "late"]
    assert all(t.cancelling() == 0 for t in (late, early))


async def test_a_closed_loop_time_expiry_lets_go_of_its_task() -> None:
    """A closed expiry may wait in the loop's heap until it is rebuilt: it must not keep
    its task (and the task's result) alive meanwhile."""
    import gc
    import weakref

    async def work() -> bytes:
        expiry = Expiry(None, 60.0)
        try:
            return b"x" * 1000
        finally:
            expiry.close()

    task = asyncio.create_task(work())
    await asyncio.wait({task})  # not awaited: the test's own task must not refer to it
    assert task.result() == b"x" * 1000
    ref = weakref.ref(task)
    del task
    gc.collect()
    assert ref() is None
