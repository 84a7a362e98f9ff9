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
from collections.abc import Callable
from types import TracebackType

from .clock import Clock, Timer, call_later


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

    __slots__ = ("_cancelling", "_settled", "_task", "_timer", "fired")

    def __init__(self, clock: Clock | None, seconds: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Expiry needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        self._settled = False
        self.fired = False
        fire: Callable[[], object] = self._fire
        self._timer: Timer = (
            asyncio.get_running_loop().call_later(max(0.0, seconds), fire)
            if clock is None
            else call_later(clock, seconds, fire)
        )

    def _fire(self) -> None:
        if not self._settled:
            self.fired = True
            self._task.cancel()

    def expired(self) -> bool:
        """Stop the timer; True when it fired and the cancellation being raised is its own."""
        if self._settled:
            return False
        self._settled = True
        self._timer.cancel()
        return self.fired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        """Stop the timer and withdraw its cancel request if it fired (idempotent)."""
        if self._settled:
            return
        self._settled = True
        self._timer.cancel()
        if self.fired:
            self._task.uncancel()


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
