"""FakeClock: one consistent virtual timeline for concurrent sleepers."""

from __future__ import annotations

import asyncio

import pytest

from genguard.clock import FakeClock, SystemClock


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
