"""A deadline for the code running in the current task, on the call's injected clock.

``asyncio.timeout`` runs on the event loop's time, so a ``FakeClock`` cannot move
it, and it costs an async context manager per use. ``Expiry`` is the same
contract on any ``Clock``: one timer that cancels the task when it fires, and a
synchronous check afterwards that tells the caller whether the cancellation was
its own (to turn into its typed error) or came from outside (to propagate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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


__all__ = ["Expiry"]
