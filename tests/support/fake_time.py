"""Fake time over real I/O: time moves only when every caller is asleep on the clock.

A ``FakeClock(auto=False)`` never moves by itself, so a loopback round trip can
take as long as the machine needs without time passing under it. ``drive`` runs
callers to completion, advancing the clock to the next sleeper's deadline only
once each live caller is asleep on it (or, with ``local=True``, once the whole
event loop has nothing left to do); ``until`` waits for a condition that real
I/O will make true. Neither bounds how long anything takes: the limit is a hang
guard, generous on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from genguard.clock import FakeClock

T = TypeVar("T")

#: Real seconds before a wait that never ends is reported as a hang (not a speed bound).
HANG_GUARD = 60.0


async def until(
    predicate: Callable[[], bool], what: str = "condition", limit: float = HANG_GUARD
) -> None:
    """Yield to the event loop until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError(f"hung waiting for {what}")
        await asyncio.sleep(0.001)


def loop_idle() -> bool:
    """Whether the running event loop has nothing to do but wait for its timers.

    True when no callback is queued behind the caller's and no watched socket is
    ready (the kernel delivers a loopback write to the peer's socket before
    ``send`` returns, so a request or answer in flight always shows as one or the
    other). A level-triggered ``select(0)`` only looks: the loop sees the same
    events on its next turn.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    selector = getattr(loop, "_selector", None)
    if ready is None or selector is None:
        raise RuntimeError("local=True needs asyncio's selector event loop")
    return not ready and not selector.select(0)


async def drive(
    clock: FakeClock,
    aws: Iterable[Awaitable[T]],
    *,
    stop_at: float | None = None,
    limit: float = HANG_GUARD,
    local: bool = False,
) -> list[T | BaseException]:
    """Run ``aws`` as tasks on ``clock`` (which must have ``auto=False``) to completion.

    Time advances to the earliest sleeper's deadline once every unfinished task is
    itself asleep on ``clock``, never while one is doing I/O (a deadline watchdog
    sleeping beside an attempt in flight does not count).

    ``local=True`` says every peer the tasks wait on runs in this event loop (the
    simulator, on the same ``clock``): time then also advances once the loop is
    idle on two checks in a row, no callback queued and no socket ready, so a
    caller reading an answer the simulator stalls on the clock, or queued behind
    one that is, waits in virtual time. Not for peers in another process (Redis):
    their answer may be on its way while this loop looks idle.

    ``stop_at`` caps how far time may go (a hang guard in virtual time). Results
    and exceptions come back in order.
    """
    tasks: list[asyncio.Task[Any]] = [asyncio.ensure_future(aw) for aw in aws]
    try:
        while True:
            idle_before = False

            def settled() -> bool:
                nonlocal idle_before
                if all(t.done() or clock.asleep(t) for t in tasks):
                    return True
                if not local or clock.next_wake is None:
                    return False
                idle, idle_before = idle_before, loop_idle()
                return idle and idle_before

            await until(settled, "every caller to finish or sleep on the clock", limit)
            if all(t.done() for t in tasks):
                break
            wake = clock.next_wake
            assert wake is not None
            if stop_at is not None and wake > stop_at:
                raise AssertionError(f"still running at virtual time {clock.now()}")
            clock.advance(wake - clock.now())
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [t.exception() or t.result() for t in tasks]
