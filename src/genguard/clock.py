"""Time as a dependency, so retry and limiter logic is tested in milliseconds, not by sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, wall time (for HTTP dates) and sleeping."""

    def now(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class Timer(Protocol):
    """A scheduled callback that can be called off (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> object: ...


def call_later(clock: Clock, seconds: float, callback: Callable[[], object]) -> Timer:
    """Run ``callback`` after ``seconds`` on ``clock``: its own timer when it has one
    (``SystemClock``, ``FakeClock``), else a task that sleeps on it."""
    schedule = getattr(clock, "call_later", None)
    if schedule is not None:
        timer: Timer = schedule(seconds, callback)
        return timer

    async def wait() -> None:
        await clock.sleep(seconds)
        callback()

    return asyncio.get_running_loop().create_task(wait())


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and ``asyncio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` after ``seconds``: one event-loop timer, no task."""
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


class FakeClock:
    """Virtual time for tests: sleeping returns as soon as every other task is idle.

    Sleepers are woken in deadline order. Time advances only when the event loop
    has run ``settle`` rounds without a new sleeper arriving, so concurrent
    coroutines see one consistent timeline (two tasks sleeping 1 s each wake at
    t+1, not t+2). ``advance`` moves time by hand and wakes whoever is due.

    ``auto=False`` never moves time on its own: only ``advance`` does. Use it when
    real I/O (loopback HTTP) runs on fake time, so time cannot pass mid-request
    however slow the machine is; ``pending`` and ``next_wake`` tell the driver
    who is asleep.
    """

    def __init__(
        self,
        start: float = 1000.0,
        wall_start: float = 1_700_000_000.0,
        settle: int = 20,
        *,
        auto: bool = True,
    ):
        self._auto = auto
        self._now = start
        self._wall_offset = wall_start - start
        self._settle = settle
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._owners: dict[asyncio.Future[None], asyncio.Task[object] | None] = {}
        self._seq = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        self._owners[fut] = asyncio.current_task()
        if self._auto and (self._driver is None or self._driver.done()):
            self._driver = loop.create_task(self._drive())
        try:
            await fut
        finally:
            self._owners.pop(fut, None)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` once ``seconds`` of virtual time have passed.

        The timer waits in line with the sleepers (``pending``, ``next_wake`` and
        ``advance`` see it) but belongs to no task, so ``asleep`` ignores it.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        fut.add_done_callback(lambda done: None if done.cancelled() else callback())
        if self._auto and (self._driver is None or self._driver.done()):
            self._driver = loop.create_task(self._drive())
        return fut

    @property
    def pending(self) -> int:
        """Sleepers still waiting (cancelled ones excluded)."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def asleep(self, task: asyncio.Task[object]) -> bool:
        """Whether ``task`` itself is waiting in ``sleep`` (not a task it started)."""
        return any(owner is task and not fut.done() for fut, owner in self._owners.items())

    @property
    def next_wake(self) -> float | None:
        """The earliest deadline of a waiting sleeper, or None."""
        live = [when for when, _, fut in self._sleepers if not fut.done()]
        return min(live, default=None)

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking every sleeper that is now due."""
        self._now += seconds
        self._wake_due()

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def _drive(self) -> None:
        while self._sleepers:
            count = len(self._sleepers)
            for _ in range(self._settle):
                await asyncio.sleep(0)
            # Drop sleepers whose tasks were cancelled meanwhile.
            self._sleepers = [s for s in self._sleepers if not s[2].done()]
            heapq.heapify(self._sleepers)
            if not self._sleepers:
                return
            if len(self._sleepers) != count:
                continue  # someone new went to sleep: let the loop settle again
            self._now = max(self._now, self._sleepers[0][0])
            self._wake_due()


__all__ = ["Clock", "FakeClock", "SystemClock", "Timer", "call_later"]
