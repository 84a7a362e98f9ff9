"""Per-attempt timeout: one slow attempt becomes a retryable ``AttemptTimeout``.

Placed inside the rate limiter, so time spent waiting for a permit is not
attempt time. The effective timeout is the smaller of ``attempt`` and what is
left of the call's deadline; when the deadline is the tighter bound, the error
is ``DeadlineExceeded`` (not retryable) rather than ``AttemptTimeout``. The timer
runs on the call's clock, so a ``FakeClock`` fires it at the virtual instant.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field

from ..core import Handler, Scope
from ..errors import AttemptTimeout, DeadlineExceeded
from ..model import Call, GenerationResult
from ..options import Duration, LayerOptions
from ..timer import Expiry


class TimeoutOptions(LayerOptions):
    layer_name: ClassVar[str] = "timeout"
    doc: ClassVar[str] = "Bounds each attempt (not the wait for a permit)."

    attempt: Duration = Field(60.0, gt=0, description="Per-attempt limit.")


class TimeoutLayer:
    options_model: ClassVar[type[TimeoutOptions]] = TimeoutOptions

    scope: Scope = "attempt"

    def __init__(
        self, options: TimeoutOptions | float | str | None = None, /, **fields: Any
    ) -> None:
        """``TimeoutLayer(TimeoutOptions(...))``, ``TimeoutLayer(60)`` or ``attempt="60s"``."""
        if options is not None and not isinstance(options, TimeoutOptions):
            fields = {"attempt": options, **fields}
            options = None
        self.options = TimeoutOptions.of(options, fields, "timeout")
        self.attempt = self.options.attempt

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        if "stream.state" in call.extras:  # a stream keeps its own connect/idle/total timers
            return await next(call)
        limit = self.attempt
        remaining = call.remaining()
        by_deadline = remaining is not None and remaining < limit
        if by_deadline:
            assert remaining is not None
            if remaining <= 0:
                raise DeadlineExceeded(
                    "deadline passed before the attempt started", attempts=call.attempt - 1
                )
            limit = remaining
        # One timer on the call's clock (a FakeClock moves it), cancelling this task.
        expiry = Expiry(call.clock, limit)
        try:
            return await next(call)
        except asyncio.CancelledError as exc:
            if not expiry.expired():
                raise
            if by_deadline:
                raise DeadlineExceeded(
                    f"deadline reached during attempt {call.attempt}", attempts=call.attempt
                ) from exc
            raise AttemptTimeout(
                f"attempt {call.attempt} timed out after {limit:g}s", timeout=limit
            ) from exc
        finally:
            expiry.close()

    def __repr__(self) -> str:
        return f"TimeoutLayer(attempt={self.attempt:g})"
