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
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(100):
        await clock.sleep(60)
    assert clock.now() == pytest.approx(6000)
    assert loop.time() - t0 < 1.0


async def test_cancelled_sleeper_does_not_move_time() -> None:
    clock = FakeClock(start=0.0)
    task = asyncio.create_task(clock.sleep(100))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.sleep(1)
    assert clock.now() == pytest.approx(1)


async def test_wall_tracks_now_and_advance_wakes_due_sleepers() -> None:
    clock = FakeClock(start=10.0, wall_start=1000.0)
    clock.advance(5)
    assert clock.now() == 15.0 and clock.wall() == 1005.0
    assert clock.slept == []


async def test_system_clock_sleeps_for_real_and_never_negative() -> None:
    clock = SystemClock()
    t0 = clock.now()
    await clock.sleep(-1)
    await clock.sleep(0.01)
    assert clock.now() - t0 >= 0.009
    assert abs(clock.wall() - __import__("time").time()) < 1
