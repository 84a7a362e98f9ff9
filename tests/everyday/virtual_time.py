"""An asyncio event loop whose clock jumps over idle time: real-latency runs in milliseconds.

The simulator's ``realistic`` profile sleeps 8-20 s per image with ``asyncio.sleep``
and the timeout layer bounds attempts with ``asyncio.timeout``: both are timers of
the running loop. When nothing is ready and no socket has data for ``GRACE``
seconds of real time, this loop advances its clock straight to the next timer,
so timers fire in the same order and at the same loop times as they would in
real time, while the loopback HTTP in between stays real. Only time is faked.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any

#: Real time to wait for socket activity before declaring the loop idle.
GRACE = 0.02


class _JumpingSelector:
    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None or timeout <= GRACE:
            return self._inner.select(timeout)
        events = self._inner.select(GRACE)
        if not events:
            self._loop.jumped += timeout - GRACE
            self._loop.offset += timeout - GRACE
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``loop.time()`` is real monotonic time plus every idle stretch skipped so far."""

    def __init__(self) -> None:
        super().__init__(selectors.DefaultSelector())
        self.offset = 0.0
        self.jumped = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type,assignment]

    def time(self) -> float:
        return time.monotonic() + self.offset


class LoopClock:
    """A genguard ``Clock`` on the running loop's time (virtual under ``VirtualTimeLoop``)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time() + (self.now() - time.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
