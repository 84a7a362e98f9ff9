"""A deadline for the code running in the current task, on the call's injected clock.

``asyncio.timeout`` runs on the event loop's time, so a ``FakeClock`` cannot move
it, and it costs an async context manager per use. ``Expiry`` is the same
contract on any ``Clock``: one timer that cancels the task when it fires, and a
synchronous check afterwards that tells the caller whether the cancellation was
its own (to turn into its typed error) or came from outside (to propagate).
``clock_timeout`` wraps one in an async context manager for code that wants
``asyncio.timeout``'s shape (the moderation classifier).
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .clock import Clock, SystemClock, Timer, call_later

#: The loop attribute holding its ``_LoopExpiries``.
_ON_LOOP = "_genguard_expiries"
#: Closed expiries left in the heap before it is rebuilt without them (and at least
#: half of it): most expiries close long before their time, so they are dropped in bulk.
_REBUILD_AFTER = 64


class _LoopExpiries:
    """Every ``Expiry`` on one event loop's own time, behind one loop timer.

    An event-loop timer costs a handle, a context copy and a heap push compared in
    Python; a deadline almost never fires (the call ends long before), so every
    expiry on the loop's time waits in one heap of plain tuples instead, and one
    loop timer is armed for the earliest. A closed expiry stays in the heap until it
    comes up or enough have piled up to rebuild it. Expiries fire at the same loop
    time as their own timers would.
    """

    __slots__ = ("_armed", "_closed", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Expiry]] = []
        self._seq = 0
        self._closed = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf

    def add(self, when: float, expiry: Expiry) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, expiry))
        if when < self._armed:
            self._arm(when)

    def closed(self) -> None:
        """An expiry in the heap was closed before its time."""
        self._closed += 1
        heap = self._heap
        if self._closed >= _REBUILD_AFTER and 2 * self._closed >= len(heap):
            self._heap = [entry for entry in heap if not entry[2]._settled]
            heapq.heapify(self._heap)
            self._closed = 0
            if not self._heap and self._handle is not None:
                self._handle.cancel()
                self._handle = None
                self._armed = math.inf

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(when, self._run)
        self._armed = when

    def _run(self) -> None:
        due = max(self._loop.time(), self._armed)
        self._handle = None
        self._armed = math.inf
        heap = self._heap
        while heap and (heap[0][0] <= due or heap[0][2]._settled):
            expiry = heapq.heappop(heap)[2]
            if expiry._settled:
                self._closed -= 1
            else:
                expiry._fire()
        if heap:
            self._arm(heap[0][0])


def _expiries_of(loop: asyncio.AbstractEventLoop) -> _LoopExpiries | None:
    """The loop's ``_LoopExpiries`` (made on first use), or None for a loop that takes no
    attributes (each expiry then has its own loop timer)."""
    expiries: _LoopExpiries | None = getattr(loop, _ON_LOOP, None)
    if expiries is None and hasattr(loop, "__dict__"):
        expiries = _LoopExpiries(loop)
        setattr(loop, _ON_LOOP, expiries)
    return expiries


class Expiry:
    """Cancels the current task once ``seconds`` have passed on ``clock`` (None: the
    event loop's own time). Use as::

        expiry = Expiry(clock, seconds)
        try:
            return await work()
        except asyncio.CancelledError as exc:
            if expiry.expired():
                raise TimeoutError from exc
            raise
        finally:
            expiry.close()

    Like ``asyncio.timeout``: a cancellation from outside is never taken for the
    deadline, and if the work swallows the cancellation and finishes, the task's
    cancel request is withdrawn so nothing leaks into the caller.
    """

    __slots__ = ("_cancelling", "_expiries", "_settled", "_task", "_timer", "fired")

    def __init__(self, clock: Clock | None, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Expiry needs a running task")
        #: Dropped once settled: a closed expiry may wait in the loop's heap a while.
        self._task: asyncio.Task[Any] | None = task
        self._cancelling = task.cancelling()
        self._settled = False
        self.fired = False
        self._timer: Timer | None = None
        self._expiries: _LoopExpiries | None = None
        if clock is None or type(clock) is SystemClock:  # the event loop's own time
            expiries = _expiries_of(loop)
            if expiries is not None:
                self._expiries = expiries
                expiries.add(loop.time() + max(0.0, seconds), self)
                return
        fire: Callable[[], object] = self._fire
        self._timer = (
            loop.call_later(max(0.0, seconds), fire)
            if clock is None
            else call_later(clock, seconds, fire)
        )

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        elif not self.fired and self._expiries is not None:
            self._expiries.closed()

    def _fire(self) -> None:
        task = self._task
        if not self._settled and task is not None:
            self.fired = True
            task.cancel()

    def expired(self) -> bool:
        """Stop the timer; True when it fired and the cancellation being raised is its own."""
        if self._settled:
            return False
        self._settled = True
        self._stop()
        task, self._task = self._task, None
        return self.fired and task is not None and task.uncancel() <= self._cancelling

    def close(self) -> None:
        """Stop the timer and withdraw its cancel request if it fired (idempotent)."""
        if self._settled:
            return
        self._settled = True
        self._stop()
        task, self._task = self._task, None
        if self.fired and task is not None:
            task.uncancel()


class ClockTimeout:
    """``asyncio.timeout(seconds)`` measured on a genguard ``Clock``: use ``clock_timeout``.

    An ``Expiry`` as an async context manager: the block raises ``TimeoutError``
    when the time runs out on ``clock`` (a ``FakeClock`` in virtual time),
    ``expired()`` tells that apart from a ``TimeoutError`` of the body, and a
    cancellation from outside propagates as is.
    """

    __slots__ = ("_clock", "_expired", "_expiry", "_seconds")

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = max(0.0, float(seconds))
        self._expiry: Expiry | None = None
        self._expired = False

    def expired(self) -> bool:
        """Whether the time ran out (the block was cancelled by this timeout)."""
        return self._expired

    async def __aenter__(self) -> ClockTimeout:
        self._expiry = Expiry(self._clock, self._seconds)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        expiry, self._expiry = self._expiry, None
        if expiry is None:
            return
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        if cancelled and expiry.expired():
            self._expired = True
            raise TimeoutError(f"timed out after {self._seconds:g}s") from exc
        expiry.close()

    def __repr__(self) -> str:
        return f"ClockTimeout({self._seconds:g}s, expired={self._expired})"


def clock_timeout(clock: Clock, seconds: float) -> ClockTimeout:
    """``async with clock_timeout(clock, s):`` is ``asyncio.timeout(s)`` on ``clock``."""
    return ClockTimeout(clock, seconds)


__all__ = ["ClockTimeout", "Expiry", "clock_timeout"]
