"""Retry: exponential backoff with jitter that obeys every server hint, the call's
deadline and a retry budget.

The layer is call-scoped and sits outside the attempt layers (breaker, rate
limit, timeout), so each ``next(call)`` is one whole attempt, numbered by the
pipeline's attempt boundary. What it decides, in order, after a failed attempt:

1. Is the error worth retrying? (``retry_if``, then the error's ``retryable`` fact.)
2. Are attempts left?
3. How long to wait: jittered backoff, but never less than the server's hint
   (Retry-After, retry-after-ms, Gemini RetryInfo, x-ratelimit-reset-*) or an
   open breaker's ``retry_at``; jitter only ever adds to a hint.
4. Does the wait fit? A hint beyond ``max_retry_after`` or the remaining
   deadline fails at once with ``RateLimited`` instead of sleeping in vain; a
   backoff that would end past the deadline raises ``DeadlineExceeded``.
5. Does the retry budget allow it? If not, the last error is raised with
   ``RetryBudgetExhausted`` as its cause, so an outage does not multiply load.

Every attempt also runs under the deadline (on the call's clock), so no attempt
outlives the call even without a timeout layer.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeGuard, get_args

from pydantic import Field, model_validator

from ..billing import ResubmitPolicy
from ..core import Handler, Scope
from ..errors import (
    RETRY_STATUSES,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    RateLimited,
    RetryBudgetExhausted,
    is_retryable,
)
from ..model import Call, GenerationResult
from ..options import Duration, Int, LayerOptions, Number, Options
from ..timer import Expiry
from .retry_budget import RetryBudget, RetryBudgetOptions

Jitter = Literal["full", "equal", "decorrelated", "none"]
RetryPredicate = Callable[[BaseException], bool | None]

JITTERS: tuple[str, ...] = get_args(Jitter)
#: Jitter added on top of a server hint: up to this fraction of the hint ...
HINT_SPREAD = 0.1
#: ... and never more than this many seconds.
HINT_SPREAD_MAX = 1.0
#: The shortest wait before asking an open breaker again, whatever its ``retry_at`` says
#: (a store answering "now" must not make a waiting call spin).
REFUSAL_RECHECK = 0.05


def default_retryable(error: BaseException) -> bool:
    """The built-in verdict: the error's own ``retryable`` fact (see ``genguard.errors``).

    Retried: ``RateLimited`` (but not one naming a per-day quota),
    ``ProviderUnavailable``, ``AttemptTimeout``, any provider 408/409, and any
    ``GenGuardError`` whose class or instance says ``retryable``. Never: anything
    that is not a ``GenGuardError`` (a bug is not transient). ``CircuitOpen`` is
    handled apart: it is retried by waiting for ``retry_at``.
    """
    return is_retryable(error)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter. Pure: the random source is passed in.

    ``base(n)`` is ``min(max_delay, initial * multiplier ** (n - 1))`` for the n-th
    retry. Jitter spreads clients that failed together so they do not retry in
    lockstep: ``full`` draws from [0, base] (the AWS recommendation, least
    contention), ``equal`` from [base/2, base], ``decorrelated`` from
    [initial, 3 * previous] capped at ``max_delay``, ``none`` is exactly ``base``.
    """

    initial: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: Jitter = "full"

    def base(self, retry: int) -> float:
        try:
            value = self.initial * self.multiplier ** max(0, retry - 1)
        except OverflowError:
            value = math.inf
        return min(self.max_delay, value)

    def delay(self, retry: int, previous: float | None, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (1-based); ``previous`` is the last wait."""
        jitter = self.jitter
        if jitter == "decorrelated":
            low = min(self.initial, self.max_delay)
            high = max(low, 3.0 * (previous if previous is not None else low))
            return min(self.max_delay, rng.uniform(low, high))
        base = self.base(retry)
        if jitter == "full":
            return rng.uniform(0.0, base)
        if jitter == "equal":
            return base / 2.0 + rng.uniform(0.0, base / 2.0)
        return base

    def with_hint(self, backoff: float, hint: float, rng: random.Random) -> float:
        """The wait when the server named one: never less than ``hint``; jitter only adds.

        Clients told the same Retry-After would otherwise return in the same
        instant, so up to 10% of the hint (at most 1 s) is added, unless jitter is
        ``none``. The jittered backoff still applies when it is the longer wait.
        """
        spread = 0.0
        if self.jitter != "none" and hint > 0:
            spread = rng.uniform(0.0, min(HINT_SPREAD * hint, HINT_SPREAD_MAX))
        return max(hint + spread, backoff)


def hint_upper_bound(hint: float, max_delay: float) -> float:
    """The longest wait ``Backoff.with_hint`` can choose for ``hint`` (for tests and docs)."""
    return max(max_delay, hint + min(HINT_SPREAD * hint, HINT_SPREAD_MAX))


class BackoffOptions(Options):
    doc: ClassVar[str] = "Exponential backoff between attempts."

    initial: Duration = Field(1.0, ge=0, description="Delay before the first retry.")
    max: Duration = Field(30.0, ge=0, description="Cap on any one delay (`max_delay` in Python).")
    multiplier: Number = Field(2.0, ge=1, description="Growth per retry.")
    jitter: Jitter = Field(
        "full", description="Randomisation, so clients do not retry in lockstep."
    )

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> BackoffOptions:
        if self.max < self.initial:
            raise ValueError("max must be >= initial")
        return self


#: Python keyword -> key of the file's ``backoff`` section (``max_delay`` is ``max`` there).
BACKOFF_KEYWORDS: dict[str, str] = {
    "initial": "initial",
    "multiplier": "multiplier",
    "max_delay": "max",
    "jitter": "jitter",
}


class RetryOptions(LayerOptions):
    layer_name: ClassVar[str] = "retry"
    doc: ClassVar[str] = "Retries retryable errors with backoff, within the call's deadline."

    attempts: Int = Field(6, ge=1, le=100, description="Total attempts, the first included.")
    backoff: BackoffOptions = Field(default_factory=BackoffOptions, description="Delays.")
    max_retry_after: Duration = Field(
        60.0, ge=0, description="A server hint longer than this gives up instead of waiting."
    )
    budget: RetryBudgetOptions | None = Field(None, description="Off unless set.")
    resubmit_uncertain: Int = Field(
        1,
        ge=0,
        le=100,
        description="Resubmits allowed after an attempt that may have been billed "
        "(sent, answer lost); 0 never resubmits.",
    )

    @model_validator(mode="before")
    @classmethod
    def _python_keywords(cls, data: Any) -> Any:
        """Python's flat ``initial=``, ``max_delay=``... go into the ``backoff`` section."""
        if not isinstance(data, Mapping) or not any(k in data for k in BACKOFF_KEYWORDS):
            return data
        data = dict(data)
        backoff = data.get("backoff")
        nested = dict(
            backoff.model_dump() if isinstance(backoff, BackoffOptions) else backoff or {}
        )
        for keyword, key in BACKOFF_KEYWORDS.items():
            if keyword in data:
                nested[key] = data.pop(keyword)
        data["backoff"] = nested
        return data


class RetryLayer:
    """Retries failed attempts with backoff, within the deadline, the hints and the budget.

    Config key ``retry``. ``attempts`` counts the first try (4 = 1 + 3 retries).
    ``initial``/``multiplier``/``max_delay``/``jitter`` shape the backoff.
    ``max_retry_after`` is the longest server-requested wait worth sleeping; a
    longer one fails fast with ``RateLimited(retry_after=...)``. ``budget`` caps
    retries per partition key. ``retry_if(error)`` returns True (retry), False
    (never) or None (use ``default_retryable``). ``rng`` makes jitter reproducible.
    ``resubmit`` caps resubmits after an attempt that may have been billed (sent,
    answer lost); see ``genguard.billing.ResubmitPolicy``. Default: one.
    """

    options_model: ClassVar[type[RetryOptions]] = RetryOptions

    scope: Scope = "call"

    def __init__(
        self,
        options: RetryOptions | None = None,
        /,
        *,
        budget: RetryBudget | None = None,
        retry_if: RetryPredicate | None = None,
        rng: random.Random | None = None,
        resubmit: ResubmitPolicy | None = None,
        **fields: Any,
    ) -> None:
        """``RetryLayer(RetryOptions(...))`` or keywords: ``attempts``, ``initial``,
        ``multiplier``, ``max_delay``, ``jitter``, ``max_retry_after``, ``resubmit_uncertain``
        (see ``RetryOptions``); ``budget`` is a ``RetryBudget`` shared as given."""
        self.options = options = RetryOptions.of(options, fields, "retry")
        if budget is not None and not isinstance(budget, RetryBudget):
            raise ConfigError("retry.budget", f"must be a RetryBudget, got {type(budget).__name__}")
        if budget is None and options.budget is not None:
            budget = RetryBudget(options.budget)
        if retry_if is not None and not callable(retry_if):
            raise ConfigError("retry.retry_if", "must be a callable taking the error")
        backoff = options.backoff
        self.attempts = options.attempts
        self.backoff = Backoff(backoff.initial, backoff.multiplier, backoff.max, backoff.jitter)
        self.max_retry_after = options.max_retry_after
        self.budget = budget
        self.retry_if = retry_if
        self.rng = rng or random.Random()
        self.resubmit = (
            resubmit if resubmit is not None else ResubmitPolicy(options.resubmit_uncertain)
        )

    # -- the loop ---------------------------------------------------------------------------
    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        clock = call.clock
        observer = call.observer
        budget = self.budget
        if budget is not None:
            budget.record_call(call.key, clock.now())
        made = 0
        last_error: BaseException | None = None
        previous_delay: float | None = None
        noticed: set[str] | None = None  # made at the first failure: most calls never fail
        refused = 0
        while True:
            remaining = call.remaining()
            if remaining is not None and remaining <= 0:
                observer.retry_gave_up(call, "deadline")
                raise DeadlineExceeded(
                    f"deadline passed after {made} attempt(s)", attempts=made, last_error=last_error
                ) from last_error
            made += 1
            try:
                if remaining is None:
                    return await next(call)
                # The attempt runs under the deadline, on the call's clock (a FakeClock
                # enforces it in virtual time): one timer, no watchdog task, no extra
                # frame. A cancellation from outside still propagates as is.
                expiry = Expiry(clock, remaining)
                try:
                    return await next(call)
                except asyncio.CancelledError as cancelled:
                    if expiry.expired():
                        raise DeadlineExceeded(
                            f"deadline reached during attempt {call.attempt}",
                            attempts=call.attempt,
                        ) from cancelled
                    raise
                finally:
                    expiry.close()
            except DeadlineExceeded as exc:
                observer.retry_gave_up(call, "deadline")
                raise DeadlineExceeded(
                    f"deadline reached during attempt {made}",
                    attempts=made,
                    last_error=exc.last_error or last_error,
                ) from exc
            except Exception as exc:
                error: Exception = exc
            last_error = error
            if noticed is None:
                noticed = set()
            if isinstance(error, CircuitOpen) and call.deadline is not None:
                # A refusal sent nothing upstream: it does not use up an attempt. The
                # deadline bounds how long the call keeps waiting for the breaker.
                made -= 1
                refused += 1
                delay = self._plan(call, error, max(made, 1), previous_delay, noticed, refused)
            else:
                delay = self._plan(call, error, made, previous_delay, noticed)
            previous_delay = delay
            await clock.sleep(delay)

    def _plan(
        self,
        call: Call,
        error: Exception,
        made: int,
        previous: float | None,
        noticed: set[str],
        refused: int = 0,
    ) -> float:
        """The wait before the next attempt, or raise the error that ends the call.

        ``refused`` counts breaker refusals so far when they do not use up attempts
        (the call has a deadline); the wait before re-asking is then at least the
        breaker's ``retry_at`` and at least the backoff for that many refusals.
        """
        observer = call.observer
        circuit = isinstance(error, CircuitOpen)
        verdict = self.retry_if(error) if self.retry_if is not None else None
        if verdict is None:
            verdict = circuit or default_retryable(error)
        if not verdict:
            if circuit:
                observer.retry_gave_up(call, "circuit_open")
            raise error
        # billing hook: a possibly-billed attempt is resubmitted only within its own cap
        if not self.resubmit.may_resubmit(call, error):
            observer.retry_gave_up(call, "possibly_billed")
            raise error
        if made >= self.attempts and not refused:
            observer.retry_gave_up(call, "attempts")
            raise error
        if refused:
            made = refused

        now = call.clock.now()
        hint, source = self._hint(call, error, now, noticed)
        delay = self.backoff.delay(made, previous, self.rng)
        remaining = call.remaining()
        if hint is not None and hint > 0:
            too_long = hint > self.max_retry_after
            if too_long or (remaining is not None and hint >= remaining):
                if too_long:
                    why = f"more than max_retry_after ({self.max_retry_after:g}s)"
                else:
                    why = (
                        f"more than the {max(remaining or 0.0, 0.0):.3g}s left before the deadline"
                    )
                observer.retry_gave_up(
                    call, "circuit_open" if circuit else "hint_too_long" if too_long else "deadline"
                )
                if circuit:
                    raise error  # let fallback act now rather than wait out the breaker
                raise _hint_error(error, hint, source, why)
            delay = self.backoff.with_hint(delay, hint, self.rng)
            if remaining is not None and delay >= remaining:
                delay = hint  # the hint fits; the extra jitter does not
        elif remaining is not None and delay >= remaining and not refused:
            observer.retry_gave_up(call, "deadline")
            raise DeadlineExceeded(
                f"the next retry (in {delay:.3g}s) would start after the deadline "
                f"({max(remaining, 0.0):.3g}s left) after {made} attempt(s)",
                attempts=made,
                last_error=error,
            ) from error
        if refused:
            delay = max(delay, REFUSAL_RECHECK)
            if remaining is not None and delay >= remaining:
                observer.retry_gave_up(call, "circuit_open")
                raise error

        budget = self.budget
        # An open breaker already limits upstream load, and waiting it out sends
        # nothing until it admits a probe, so that wait is not charged.
        if budget is not None and not circuit and not budget.try_retry(call.key, now):
            observer.retry_gave_up(call, "budget")
            exhausted = RetryBudgetExhausted(
                f"retry budget for {call.key} is spent (at most {budget.ratio:g} retries per "
                f"call plus {budget.min_per_s:g}/s over {budget.ttl:g}s)",
                key=call.key,
            )
            exhausted.__cause__ = error.__cause__
            raise error from exhausted
        observer.retry_scheduled(call, delay, type(error).__name__, source)
        return delay

    def _hint(
        self, call: Call, error: Exception, now: float, noticed: set[str]
    ) -> tuple[float | None, str | None]:
        """The server's minimum wait in seconds (and where it came from), or None.

        Providers hand hints over parsed and clamped, but a custom provider or
        layer may not: a negative value is clamped to 0, a non-number, NaN or
        infinity is ignored, and each is reported once per call, never raised.
        """
        if isinstance(error, CircuitOpen):
            raw: object = error.retry_at - now if _is_number(error.retry_at) else None
            source: str | None = "circuit-breaker"
        else:
            raw = getattr(error, "retry_after", None)
            source = getattr(error, "hint_source", None)
        if raw is None:
            return None, None
        if not isinstance(source, str):
            source = None
        if not _is_number(raw) or not math.isfinite(raw):
            self._notice(call, noticed, "retry_hint_ignored", raw, source, "not a finite number")
            return None, None
        value = float(raw)
        if value < 0:
            if not isinstance(error, CircuitOpen):
                self._notice(call, noticed, "retry_hint_clamped", raw, source, "negative, used 0")
            value = 0.0
        return value, source or "server"

    @staticmethod
    def _notice(
        call: Call, noticed: set[str], event: str, raw: object, source: str | None, why: str
    ) -> None:
        if event in noticed:
            return
        noticed.add(event)
        call.observer.notice(call, event, value=repr(raw)[:64], hint_source=source, reason=why)

    def __repr__(self) -> str:
        b = self.backoff
        return (
            f"RetryLayer(attempts={self.attempts}, initial={b.initial:g}, "
            f"multiplier={b.multiplier:g}, max_delay={b.max_delay:g}, jitter={b.jitter!r}, "
            f"max_retry_after={self.max_retry_after:g}, budget={self.budget!r})"
        )


def _hint_error(error: Exception, hint: float, source: str | None, why: str) -> RateLimited:
    """The fail-fast error for a wait not worth sleeping: a RateLimited that says how long."""
    provider = getattr(error, "provider", None)
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    limited = RateLimited(
        f"{provider or 'the server'} asked to wait {hint:.3g}s ({source or 'hint'}), {why}; "
        "not retrying",
        retry_after=hint,
        scope=getattr(error, "scope", "server"),
        hint_source=source,
        status=status if isinstance(status, int) else None,
        code=code if isinstance(code, str) else None,
        request_id=getattr(error, "request_id", None),
        provider=provider,
    )
    limited.__cause__ = error
    return limited


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: object, path: str, low: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or value < low:
        raise ConfigError(path, f"must be a finite number >= {low:g}, got {value!r}")


__all__ = [
    "JITTERS",
    "RETRY_STATUSES",
    "Backoff",
    "Jitter",
    "RetryLayer",
    "RetryOptions",
    "RetryPredicate",
    "default_retryable",
    "hint_upper_bound",
]
