"""The retry layer on a fake clock: backoff, hints, deadline, classes, budget, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from genguard import Call, Client, GenerationRequest, GenerationResult, RecordingObserver
from genguard.clock import Clock, FakeClock, SystemClock
from genguard.errors import (
    AttemptTimeout,
    AuthenticationError,
    BadRequest,
    CircuitOpen,
    ConfigError,
    ContentBlocked,
    DeadlineExceeded,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
    RetryBudgetExhausted,
)
from genguard.layers.retry import RetryLayer, default_retryable
from genguard.layers.retry_budget import RetryBudget
from genguard.pipeline import Handler, Scope
from genguard.providers.static import StaticProvider


@dataclass
class Slow:
    """An outcome that first takes ``seconds`` of (fake) time, then becomes ``then``."""

    seconds: float
    then: BaseException | None = None


Outcome = BaseException | Slow | Callable[[Call], BaseException] | None


class Script:
    """Attempt-scoped: plays outcomes in order (the last repeats), records attempt start times."""

    scope: Scope = "attempt"

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes) or [None]
        self.starts: list[float] = []
        self.cancelled = 0

    @property
    def count(self) -> int:
        return len(self.starts)

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        self.starts.append(call.clock.now())
        outcome = self.outcomes[min(self.count, len(self.outcomes)) - 1]
        if isinstance(outcome, Slow):
            try:
                await call.clock.sleep(outcome.seconds)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            outcome = outcome.then
        if callable(outcome) and not isinstance(outcome, BaseException):
            outcome = outcome(call)
        if outcome is not None:
            raise outcome
        return await next(call)


def make(
    script: Script,
    *,
    clock: Clock | None = None,
    observer: RecordingObserver | None = None,
    deadline: float | None = None,
    extra: tuple[Any, ...] = (),
    **options: Any,
) -> Client:
    options.setdefault("rng", random.Random(7))
    layer = RetryLayer(**options)
    return Client(
        StaticProvider(),
        [layer, *extra, script],
        clock=clock or FakeClock(start=0.0),
        observer=observer or RecordingObserver(),
        deadline=deadline,
    )


def gaps(starts: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in itertools.pairwise(starts)]


async def started(script: Script, attempts: int = 1) -> None:
    """Let the loop run until ``attempts`` attempts have begun (no time passes meanwhile)."""
    for _ in range(100):
        if script.count >= attempts:
            return
        await asyncio.sleep(0)
    raise AssertionError("the attempt never started")


def unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("503 overloaded", status=503)


# -- success and backoff ----------------------------------------------------------------------
async def test_first_success_makes_one_attempt_and_never_sleeps() -> None:
    clock = FakeClock(start=0.0)
    script = Script(None)
    result = await make(script, clock=clock).generate("a fox")
    assert result.attempts == 1 and script.count == 1 and clock.now() == 0.0


async def test_transient_failures_are_retried_and_result_counts_attempts() -> None:
    rec = RecordingObserver()
    script = Script(unavailable(), AttemptTimeout("slow", timeout=1), None)
    result = await make(script, observer=rec).generate("a fox")
    assert result.attempts == 3 and script.count == 3
    scheduled = rec.of("retry_scheduled")
    assert [s["attempt"] for s in scheduled] == [1, 2]
    assert [s["reason"] for s in scheduled] == ["ProviderUnavailable", "AttemptTimeout"]
    assert [s["hint_source"] for s in scheduled] == [None, None]
    assert [f["attempt"] for f in rec.of("attempt_started")] == [1, 2, 3]


async def test_exponential_backoff_without_jitter_is_exact_and_capped() -> None:
    script = Script(unavailable())
    client = make(script, attempts=6, initial=0.5, multiplier=3.0, max_delay=5.0, jitter="none")
    with pytest.raises(ProviderUnavailable):
        await client.generate("x")
    assert gaps(script.starts) == [0.5, 1.5, 4.5, 5.0, 5.0]


async def test_full_jitter_stays_below_the_exponential_base() -> None:
    rec = RecordingObserver()
    script = Script(unavailable())
    with pytest.raises(ProviderUnavailable):
        await make(script, observer=rec, attempts=8, initial=1, max_delay=100).generate("x")
    delays = [s["delay"] for s in rec.of("retry_scheduled")]
    assert len(delays) == 7
    assert all(0 <= d <= 2**i for i, d in enumerate(delays))
    assert gaps(script.starts) == pytest.approx(delays)
    assert len(set(delays)) == 7  # jittered, not a fixed schedule


async def test_equal_jitter_keeps_at_least_half_the_base() -> None:
    rec = RecordingObserver()
    with pytest.raises(ProviderUnavailable):
        await make(Script(unavailable()), observer=rec, attempts=6, jitter="equal").generate("x")
    delays = [s["delay"] for s in rec.of("retry_scheduled")]
    assert all(2**i / 2 <= d <= 2**i for i, d in enumerate(delays))


async def test_decorrelated_jitter_stays_between_initial_and_max() -> None:
    rec = RecordingObserver()
    client = make(
        Script(unavailable()), observer=rec, attempts=10, jitter="decorrelated", max_delay=8
    )
    with pytest.raises(ProviderUnavailable):
        await client.generate("x")
    delays = [s["delay"] for s in rec.of("retry_scheduled")]
    assert all(1.0 <= d <= 8.0 for d in delays)
    assert all(b <= 3 * a + 1e-9 for a, b in itertools.pairwise(delays))


async def test_out_of_attempts_raises_the_last_error_itself() -> None:
    rec = RecordingObserver()
    last = unavailable()
    script = Script(unavailable(), unavailable(), last)
    with pytest.raises(ProviderUnavailable) as info:
        await make(script, observer=rec, attempts=3).generate("x")
    assert info.value is last and script.count == 3
    assert rec.of("retry_gave_up") == [{"reason": "attempts"}]


# -- what is retried --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "error",
    [
        ContentBlocked("no", stage="input", category="violence", source="provider"),
        BadRequest("bad size", status=400),
        AuthenticationError("bad key", status=401),
        QuotaExhausted("insufficient_quota", status=429, code="insufficient_quota"),
        RateLimited("daily", retry_after=3600, code="GenerateRequestsPerDayPerProjectPerModel"),
        ResponseError("malformed body"),
        ProviderError("418", status=418),
        ValueError("a bug, not a transient failure"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_never_retried_errors_surface_after_one_attempt(error: Exception) -> None:
    script = Script(error, None)
    with pytest.raises(type(error)) as info:
        await make(script).generate("x")
    assert info.value is error and script.count == 1


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("429", retry_after=None),
        ProviderUnavailable("connection reset", code="connection_error"),
        AttemptTimeout("slow", timeout=5),
        ProviderError("request timeout", status=408),
        ProviderError("lock timeout", status=409),
        BadRequest("conflict", status=409),
        ProviderError("server said retryable", status=520, retryable=True),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status', '')}",
)
async def test_transient_errors_are_retried(error: Exception) -> None:
    assert default_retryable(error)
    script = Script(error, None)
    result = await make(script).generate("x")
    assert result.attempts == 2


async def test_predicate_can_add_and_remove_retries_and_defer_with_none() -> None:
    blocked = ContentBlocked("no image", stage="output", category="other", source="provider")

    def predicate(error: BaseException) -> bool | None:
        if isinstance(error, ContentBlocked):
            return error.category == "other"  # IMAGE_OTHER can succeed on a second try
        if isinstance(error, RateLimited):
            return False
        return None

    script = Script(blocked, unavailable(), None)
    assert (await make(script, retry_if=predicate).generate("x")).attempts == 3
    limited = RateLimited("429")
    script = Script(limited, None)
    with pytest.raises(RateLimited):
        await make(script, retry_if=predicate).generate("x")
    assert script.count == 1


# -- server hints -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "source"),
    [
        (RateLimited("429", retry_after=7.5, hint_source="retry-info"), "retry-info"),
        (RateLimited("429", retry_after=3.0, hint_source="retry-after"), "retry-after"),
        (RateLimited("429", retry_after=0.25, hint_source="retry-after-ms"), "retry-after-ms"),
        (RateLimited("429", retry_after=12, hint_source="x-ratelimit-reset"), "x-ratelimit-reset"),
        (
            ProviderUnavailable("503", status=503, retry_after=4, hint_source="retry-after"),
            "retry-after",
        ),
        (RateLimited("429", retry_after=2), "server"),
    ],
)
async def test_next_attempt_never_starts_before_the_hint_and_jitter_only_adds(
    error: RateLimited | ProviderUnavailable, source: str
) -> None:
    hint = error.retry_after
    assert hint is not None
    rec = RecordingObserver()
    script = Script(error, None)
    # initial tiny, so backoff alone would retry far sooner than the server asked
    await make(script, observer=rec, initial=0.01).generate("x")
    (gap,) = gaps(script.starts)
    assert hint <= gap <= hint + min(0.1 * hint, 1.0)
    (scheduled,) = rec.of("retry_scheduled")
    assert scheduled["hint_source"] == source and scheduled["delay"] == pytest.approx(gap)


async def test_hint_with_no_jitter_is_obeyed_exactly() -> None:
    script = Script(RateLimited("429", retry_after=5, hint_source="retry-after"), None)
    await make(script, jitter="none", initial=0.1).generate("x")
    assert gaps(script.starts) == [5.0]


async def test_longer_backoff_still_applies_over_a_short_hint() -> None:
    script = Script(unavailable(), unavailable(), RateLimited("429", retry_after=1), None)
    await make(script, jitter="none", initial=2, multiplier=3).generate("x")
    assert gaps(script.starts) == [2.0, 6.0, 18.0]


async def test_hint_beyond_max_retry_after_fails_at_once_with_rate_limited() -> None:
    rec = RecordingObserver()
    clock = FakeClock(start=0.0)
    original = ProviderUnavailable(
        "503", status=503, retry_after=120, hint_source="retry-after", provider="openai"
    )
    script = Script(original, None)
    with pytest.raises(RateLimited) as info:
        await make(script, clock=clock, observer=rec, max_retry_after=60).generate("x")
    error = info.value
    assert error.retry_after == 120 and error.hint_source == "retry-after"
    assert error.__cause__ is original and error.status == 503 and error.provider == "openai"
    assert "max_retry_after" in str(error)
    assert script.count == 1 and clock.now() == 0.0
    assert rec.of("retry_gave_up") == [{"reason": "hint_too_long"}]


async def test_hint_beyond_the_remaining_deadline_fails_at_once() -> None:
    rec = RecordingObserver()
    clock = FakeClock(start=0.0)
    script = Script(RateLimited("429", retry_after=32, hint_source="retry-info"), None)
    with pytest.raises(RateLimited) as info:
        await make(script, clock=clock, observer=rec, deadline=20).generate("x")
    assert info.value.retry_after == 32 and "deadline" in str(info.value)
    assert script.count == 1 and clock.now() == 0.0
    assert rec.of("retry_gave_up") == [{"reason": "deadline"}]


async def test_hint_that_fits_the_deadline_drops_jitter_that_would_not() -> None:
    clock = FakeClock(start=0.0)
    script = Script(RateLimited("429", retry_after=9.95), None)
    await make(script, clock=clock, deadline=10).generate("x")
    assert gaps(script.starts) == [9.95]


@pytest.mark.parametrize(
    ("value", "event"),
    [
        (float("nan"), "retry_hint_ignored"),
        (float("inf"), "retry_hint_ignored"),
        ("soon", "retry_hint_ignored"),
        (True, "retry_hint_ignored"),
        (-30.0, "retry_hint_clamped"),
    ],
    ids=repr,
)
async def test_bad_hints_never_raise_and_are_reported_once_per_call(
    value: object, event: str
) -> None:
    rec = RecordingObserver()
    errors = []
    for _ in range(3):
        error = RateLimited("429", hint_source="retry-after")
        error.retry_after = value  # type: ignore[assignment]
        errors.append(error)
    script = Script(*errors, None)
    result = await make(script, observer=rec, initial=0.5, jitter="none").generate("x")
    assert result.attempts == 4
    assert gaps(script.starts) == [0.5, 1.0, 2.0]  # plain backoff, as if there were no hint
    notices = rec.of("notice")
    assert [n["event"] for n in notices] == [event]
    assert notices[0]["hint_source"] == "retry-after"


# -- the deadline -----------------------------------------------------------------------------
async def test_backoff_that_would_pass_the_deadline_gives_up_with_attempts_and_last_error() -> None:
    rec = RecordingObserver()
    clock = FakeClock(start=0.0)
    last = unavailable()
    script = Script(unavailable(), unavailable(), last)
    client = make(script, clock=clock, observer=rec, deadline=5, jitter="none", initial=1)
    with pytest.raises(DeadlineExceeded) as info:
        await client.generate("x")
    # attempts at t=0, 1, 3; the next would start at 7 > 5
    assert script.starts == [0.0, 1.0, 3.0] and clock.now() == 3.0
    assert info.value.attempts == 3 and info.value.last_error is last
    assert info.value.__cause__ is last
    assert rec.of("retry_gave_up") == [{"reason": "deadline"}]


async def test_a_slow_attempt_is_cut_off_at_the_deadline_even_without_a_timeout_layer() -> None:
    clock = FakeClock(start=0.0)
    first = unavailable()
    script = Script(first, Slow(1000))
    client = make(script, clock=clock, deadline=10, jitter="none", initial=1)
    with pytest.raises(DeadlineExceeded) as info:
        await client.generate("x")
    assert clock.now() == 10.0 and script.cancelled == 1
    assert info.value.attempts == 2 and info.value.last_error is first


async def test_deadline_from_an_inner_layer_is_not_retried_and_reports_attempts() -> None:
    first = unavailable()
    inner = DeadlineExceeded("deadline reached during attempt 2", attempts=2)
    script = Script(first, inner, None)
    with pytest.raises(DeadlineExceeded) as info:
        await make(script, deadline=10, retry_if=lambda e: True).generate("x")
    assert script.count == 2 and info.value.__cause__ is inner
    assert info.value.attempts == 2 and info.value.last_error is first


async def test_no_attempt_starts_once_the_deadline_has_passed() -> None:
    clock = FakeClock(start=0.0)
    script = Script(None)
    client = make(script, clock=clock, deadline=1)
    call = client.new_call(GenerationRequest(prompt="x"))
    clock.advance(2)
    with pytest.raises(DeadlineExceeded) as info:
        await client.handler(call)
    assert script.count == 0 and info.value.attempts == 0


async def test_per_request_deadline_overrides_the_clients() -> None:
    clock = FakeClock(start=0.0)
    script = Script(unavailable())
    client = make(script, clock=clock, deadline=100, jitter="none", attempts=10)
    with pytest.raises(DeadlineExceeded):
        await client.generate("x", deadline=4)
    assert clock.now() <= 4 and script.starts == [0.0, 1.0, 3.0]


# -- circuit breaker --------------------------------------------------------------------------
def circuit_open_until(offset: float) -> Callable[[Call], BaseException]:
    def build(call: Call) -> BaseException:
        return CircuitOpen("open", key=call.key, retry_at=call.clock.now() + offset)

    return build


async def test_open_circuit_is_waited_out_when_retry_at_fits_the_deadline() -> None:
    rec = RecordingObserver()
    script = Script(circuit_open_until(8), None)
    result = await make(script, observer=rec, deadline=30).generate("x")
    assert result.attempts == 2
    (waited,) = gaps(script.starts)  # virtual seconds on the FakeClock
    assert 8 <= waited <= 8.8
    assert rec.of("retry_scheduled")[0]["hint_source"] == "circuit-breaker"


async def test_breaker_refusals_do_not_use_up_attempts_while_a_deadline_bounds_them() -> None:
    clock = FakeClock(start=0.0)
    script = Script(circuit_open_until(5), circuit_open_until(5), circuit_open_until(5), None)
    client = make(script, clock=clock, deadline=30, attempts=1)
    result = await client.generate("x")
    assert script.count == 4 and result is not None
    assert 15 <= clock.now() <= 30  # waited out three refusals, then its one real attempt


async def test_without_a_deadline_a_refusal_uses_up_an_attempt() -> None:
    clock = FakeClock(start=0.0)
    script = Script(circuit_open_until(8), None)
    with pytest.raises(CircuitOpen):
        await make(script, clock=clock, deadline=None, attempts=1).generate("x")
    assert script.count == 1 and clock.now() == 0.0


@pytest.mark.parametrize(
    ("offset", "deadline", "attempts"),
    [(40, 30, 4), (90, None, 4)],
    ids=["past-deadline", "beyond-max-retry-after"],
)
async def test_open_circuit_is_raised_at_once_when_it_cannot_be_waited_out(
    offset: float, deadline: float | None, attempts: int
) -> None:
    clock = FakeClock(start=0.0)
    script = Script(circuit_open_until(offset), None)
    client = make(script, clock=clock, deadline=deadline, attempts=attempts)
    with pytest.raises(CircuitOpen):
        await client.generate("x")
    assert script.count == 1 and clock.now() == 0.0


async def test_predicate_false_makes_an_open_circuit_fail_fast() -> None:
    script = Script(circuit_open_until(1), None)
    with pytest.raises(CircuitOpen):
        await make(
            script, retry_if=lambda e: False if isinstance(e, CircuitOpen) else None
        ).generate("x")


# -- the budget -------------------------------------------------------------------------------
async def test_spent_budget_raises_the_last_error_with_the_budget_as_cause() -> None:
    rec = RecordingObserver()
    budget = RetryBudget(ratio=0.0, min_per_s=0.1, ttl=10)  # one retry per 10 s window
    transport_cause = ConnectionResetError("peer reset")
    second = unavailable()
    second.__cause__ = transport_cause
    script = Script(unavailable(), second, None)
    with pytest.raises(ProviderUnavailable) as info:
        await make(script, observer=rec, budget=budget, jitter="none", initial=0.1).generate("x")
    assert info.value is second and script.count == 2
    cause = info.value.__cause__
    assert isinstance(cause, RetryBudgetExhausted) and cause.key == "static/static-1"
    assert cause.__cause__ is transport_cause  # the original chain is kept below it
    assert rec.of("retry_gave_up") == [{"reason": "budget"}]


async def test_budget_is_per_partition_key() -> None:
    budget = RetryBudget(ratio=0.0, min_per_s=0.1, ttl=10)
    clock = FakeClock(start=0.0)
    a = make(Script(unavailable(), None), clock=clock, budget=budget)
    assert (await a.generate("x")).attempts == 2
    with pytest.raises(ProviderUnavailable):
        await make(Script(unavailable(), None), clock=clock, budget=budget).generate("x")
    other = make(Script(unavailable(), None), clock=clock, budget=budget)
    other.key_func = lambda request, provider, model: "tenant-b"
    assert (await other.generate("x")).attempts == 2


async def test_waiting_out_an_open_circuit_is_not_charged_to_the_budget() -> None:
    budget = RetryBudget(ratio=0.0, min_per_s=0.0, ttl=10)  # no retries at all
    script = Script(circuit_open_until(2), None)
    assert (await make(script, budget=budget, deadline=30).generate("x")).attempts == 2


# -- cancellation -----------------------------------------------------------------------------
async def test_cancel_during_backoff_propagates_at_once_and_starts_no_attempt() -> None:
    clock = FakeClock(start=0.0)
    script = Script(RateLimited("429", retry_after=30))
    client = make(script, clock=clock)
    task = asyncio.create_task(client.generate("x"))
    for _ in range(50):
        await asyncio.sleep(0)
        if script.count == 1 and clock.slept:
            break
    assert script.count == 1 and clock.slept[-1] >= 30
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.advance(100)
    for _ in range(50):
        await asyncio.sleep(0)
    assert script.count == 1


async def test_cancel_during_backoff_on_the_real_clock_is_immediate() -> None:
    script = Script(RateLimited("429", retry_after=30))
    client = make(script, clock=SystemClock())
    task = asyncio.create_task(client.generate("x", deadline=60))
    await started(script)
    await asyncio.sleep(0.01)  # into the 30-s backoff
    assert not task.done()
    task.cancel()
    for _ in range(5):  # "at once": within a few turns of the event loop, not a timeout
        await asyncio.sleep(0)
    assert task.cancelled() and script.count == 1


async def test_cancel_during_an_attempt_under_a_deadline_is_a_cancel_not_a_deadline() -> None:
    clock = FakeClock(start=0.0)
    script = Script(Slow(5))
    client = make(script, clock=clock, deadline=60)
    before = asyncio.all_tasks()
    task = asyncio.create_task(client.generate("x"))
    await started(script)
    assert clock.now() == 0.0  # cancelled mid-attempt, before virtual time moved
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(30):
        await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover == set()  # the deadline watchdog is gone too
    assert script.cancelled == 1


# -- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"attempts": 0}, "retry.attempts"),
        ({"attempts": 2.5}, "retry.attempts"),
        ({"initial": -1}, "retry.backoff.initial"),
        ({"multiplier": 0.5}, "retry.backoff.multiplier"),
        ({"max_delay": float("inf")}, "retry.backoff.max"),
        ({"max_retry_after": "soon"}, "retry.max_retry_after"),
        ({"jitter": "random"}, "retry.backoff.jitter"),
        ({"budget": 0.2}, "retry.budget"),
        ({"retry_if": "yes"}, "retry.retry_if"),
    ],
)
def test_bad_options_are_config_errors_with_a_path(options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryLayer(**options)
    assert info.value.path == path


def test_repr_shows_the_policy() -> None:
    text = repr(RetryLayer(budget=RetryBudget()))
    assert "attempts=6" in text and "jitter='full'" in text and "RetryBudget(ratio=0.2" in text
    assert RetryLayer.scope == "call"
