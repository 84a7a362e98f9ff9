"""FakeClock: one consistent virtual timeline for concurrent sleepers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from genguard.clock import FakeClock, SystemClock
from genguard.timer import clock_timeout


async def test_concurrent_sleepers_share_one_timeline() -> None:
    clock = FakeClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    await asyncio.gather(sleeper("a", 1.0), sleeper("b", 1.0), sleeper("c", 0.5))
    assert woke == [("c", 0.5), ("a", 1.0), ("b", 1.0)]


async def test_sequential_sleeps_add_up_without_real_time() -> None:
    clock = FakeClock(start=0.0)

    async def sleeps() -> None:
        for _ in range(100):
            await clock.sleep(60)

    # 100 minutes of fake sleeping finish before one real minute: a hang guard, no bound.
    await asyncio.wait_for(sleeps(), 60)
    assert clock.now() == pytest.approx(6000)
    assert clock.slept == [60] * 100


async def test_cancelled_sleeper_does_not_move_time() -> None:
    clock = FakeClock(start=0.0)
    task = asyncio.create_task(clock.sleep(100))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.sleep(1)
    assert clock.now() == pytest.approx(1)


async def test_wall_tracks_now() -> None:
    clock = FakeClock(start=10.0, wall_start=1000.0)
    clock.advance(5)
    assert clock.now() == 15.0 and clock.wall() == 1005.0
    assert clock.slept == []


async def test_advance_wakes_due_sleepers_and_only_those() -> None:
    clock = FakeClock(start=0.0, auto=False)  # only advance moves time
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("a", 1.0), ("b", 3.0))]
    await asyncio.sleep(0)
    assert clock.pending == 2 and clock.next_wake == 1.0
    assert all(clock.asleep(t) for t in tasks)
    for _ in range(50):  # nothing moves time by itself
        await asyncio.sleep(0)
    assert woke == [] and clock.now() == 0.0
    clock.advance(2.0)
    await asyncio.sleep(0)
    assert woke == [("a", 2.0)] and clock.pending == 1 and clock.next_wake == 3.0
    assert tasks[0].done() and clock.asleep(tasks[1])
    clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert woke == [("a", 2.0), ("b", 3.0)] and clock.pending == 0


async def test_system_clock_sleeps_for_real_and_never_negative() -> None:
    clock = SystemClock()
    t0 = clock.now()
    await clock.sleep(-1)
    await clock.sleep(0.01)
    assert clock.now() - t0 >= 0.009
    assert abs(clock.wall() - __import__("time").time()) < 1


# -- clock_timeout: asyncio.timeout on a genguard clock -------------------------------------


async def test_clock_timeout_fires_in_virtual_time() -> None:
    clock = FakeClock(start=0.0)
    block = clock_timeout(clock, 5.0)
    with pytest.raises(TimeoutError):
        async with block:
            await asyncio.Event().wait()  # never set: only the timeout ends it
    assert block.expired()
    assert clock.now() == pytest.approx(5.0)


async def test_clock_timeout_that_does_not_expire_leaves_no_timer() -> None:
    clock = FakeClock(start=0.0, auto=False)
    async with clock_timeout(clock, 5.0) as block:
        await asyncio.sleep(0)
    assert not block.expired()
    assert clock.pending == 0
    clock.advance(10)  # the cancelled timer cancels nothing later
    await asyncio.sleep(0)


async def test_clock_timeout_leaves_a_timeout_error_of_the_body_alone() -> None:
    clock = FakeClock(start=0.0, auto=False)
    with pytest.raises(TimeoutError, match="the body's own"):
        async with clock_timeout(clock, 5.0) as block:
            raise TimeoutError("the body's own")
    assert not block.expired()


async def test_clock_timeout_lets_an_outside_cancellation_through() -> None:
    clock = FakeClock(start=0.0, auto=False)
    started = asyncio.Event()

    async def guarded() -> None:
        async with clock_timeout(clock, 5.0):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending == 0


async def test_clock_timeout_on_the_system_clock_is_asyncio_timeout() -> None:
    block = clock_timeout(SystemClock(), 0.0)
    with pytest.raises(TimeoutError):
        async with block:
            await asyncio.sleep(3600)
    assert block.expired()


@settings(max_examples=60, deadline=None)
@given(
    limit=st.floats(0.001, 1000.0),
    work=st.floats(0.0, 1000.0),
    outer=st.booleans(),
)
def test_clock_timeout_cuts_exactly_the_work_that_outlasts_it(
    limit: float, work: float, outer: bool
) -> None:
    """On a FakeClock: TimeoutError at ``limit`` iff the work needs longer, else the work's
    result at ``work``; never a leaked cancellation, nor a timer left behind."""
    assume(abs(work - limit) > 1e-6)  # a tie has no defined winner, as with asyncio.timeout

    async def scenario() -> tuple[str, float, int]:
        clock = FakeClock(start=0.0)

        async def body() -> str:
            async with clock_timeout(clock, limit):
                await clock.sleep(work)
            return "done"

        try:
            if outer:  # nested in a task, as a layer runs it
                outcome = await asyncio.create_task(body())
            else:
                outcome = await body()
        except TimeoutError:
            outcome = "timeout"
        await asyncio.sleep(0)  # a leaked cancel request would surface here
        return outcome, clock.now(), clock.pending

    outcome, now, pending = asyncio.run(scenario())
    if work > limit:
        assert outcome == "timeout" and now == pytest.approx(limit)
    else:
        assert outcome == "done" and now == pytest.approx(work)
    assert pending == 0
