"""The call's deadline as one guarantee of the pipeline, whatever layers it holds.

Layers that wait (retry backoff, rate-limit bookings, attempt timeouts) respect
the deadline themselves and fail with their own facts. This guard is the outer
promise: the whole stack below it (safety classifiers on input and output,
fallback targets, a stack with no retry or timeout layer at all) is cancelled
when the deadline passes, and the caller gets ``DeadlineExceeded``.

The deadline is on the call's injected clock (``call.remaining()``); the timer
that enforces it runs for that many seconds on the event loop, as the timeout
layer's does. While a call runs, code that has no ``Call`` at hand (a state
store's round trip) finds it with :func:`current_call`: :func:`remaining_budget`
says how long it may take, so it fails on its own terms (a backend error, a
local fallback) before the guard cancels it, and the store reports what happened
to the call's own observer (the one telemetry listens to).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING

from .errors import DeadlineExceeded
from .model import Call, GenerationResult
from .timer import Expiry

if TYPE_CHECKING:
    from .core import Handler, Scope

_CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "genguard_current_call", default=None
)


def current_call() -> Call | None:
    """The call running in this task (set by the deadline guard of every ``Client``), or None."""
    return _CURRENT.get()


def remaining_budget() -> float | None:
    """Seconds left before the deadline of the call running in this task, or None."""
    call = _CURRENT.get()
    return None if call is None else call.remaining()


def arm(call: Call) -> Expiry | None:
    """The guard's start: ``DeadlineExceeded`` when no time is left, else the timer that
    cancels the task at the deadline (None for a call without one)."""
    if call.deadline is None:
        return None
    remaining = call.remaining()
    assert remaining is not None
    if remaining <= 0:
        raise DeadlineExceeded(
            "deadline passed before the attempt started (no time left for the call)",
            attempts=0,
        )
    return Expiry(None, remaining)  # one timer on the event loop's time


def passed(call: Call) -> DeadlineExceeded:
    """The error for a call its deadline's timer cancelled."""
    return DeadlineExceeded(
        f"the call's deadline passed after {call.clock.now() - call.started_at:.3g}s "
        f"(attempt {call.attempt})",
        attempts=call.attempt,
    )


def enter(call: Call) -> contextvars.Token[Call | None]:
    """Make ``call`` the task's current call (see :func:`current_call`)."""
    return _CURRENT.set(call)


def leave(token: contextvars.Token[Call | None]) -> None:
    _CURRENT.reset(token)


class DeadlineGuard:
    """Cancels everything inside it when the call's deadline passes: ``DeadlineExceeded``.

    ``Client`` puts it right inside the layers that only observe (telemetry), so
    they see the guard's ``DeadlineExceeded`` rather than a cancellation.
    """

    scope: Scope = "call"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        expiry = arm(call)
        token = _CURRENT.set(call)
        try:
            return await next(call)
        except asyncio.CancelledError as exc:
            if expiry is None or not expiry.expired():
                raise
            raise passed(call) from exc
        finally:
            if expiry is not None:
                expiry.close()
            _CURRENT.reset(token)

    def __repr__(self) -> str:
        return "DeadlineGuard()"


__all__ = [
    "DeadlineGuard",
    "arm",
    "current_call",
    "enter",
    "leave",
    "passed",
    "remaining_budget",
]
