"""Property tests: for any sequence of failures and any policy, the waits respect the hints
and the backoff bounds, the deadline is never passed, and only typed errors come out."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genguard import Call, Client, GenerationResult, RecordingObserver
from genguard.clock import FakeClock
from genguard.errors import (
    AttemptTimeout,
    CircuitOpen,
    DeadlineExceeded,
    GenGuardError,
    ProviderUnavailable,
    RateLimited,
)
from genguard.layers.retry import REFUSAL_RECHECK, Backoff, RetryLayer
from genguard.pipeline import Handler, Scope
from genguard.providers.static import StaticProvider

weird_hints = st.one_of(
    st.none(),
    st.floats(min_value=0.0, max_value=200.0),
    st.floats(min_value=-1e6, max_value=-1e-3),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e300, 0.0]),
    st.text(max_size=5),
)


@dataclass(frozen=True)
class Step:
    """One scripted attempt: ``kind`` of failure (or ``ok``), a hint, and how long it takes."""

    kind: str
    hint: object = None
    duration: float = 0.0


steps = st.builds(
    Step,
    kind=st.sampled_from(["unavailable", "ratelimited", "timeout", "circuit", "ok"]),
    hint=weird_hints,
    duration=st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=50.0)),
)


def documented_bound(hint: float, max_delay: float) -> float:
    """The longest wait after a hint, as docs/retry.md states it (not the layer's own helper):
    ``max(hint + spread, jittered backoff)``, ``spread <= min(10% of hint, 1 s)``, and a
    jittered backoff never above ``max_delay``."""
    return max(hint + min(0.1 * hint, 1.0), max_delay)


def sane(value: object) -> float | None:
    """The hint as the layer must read it: finite numbers only, negatives as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(0.0, float(value))


@dataclass
class Player:
    plan: list[Step]
    scope: Scope = "attempt"
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    hints: list[float | None] = field(default_factory=list)

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        clock = call.clock
        self.starts.append(clock.now())
        step = self.plan[min(len(self.starts), len(self.plan)) - 1]
        try:
            if step.duration:
                await clock.sleep(step.duration)
        finally:
            self.ends.append(clock.now())
        error: GenGuardError
        if step.kind == "ok":
            self.hints.append(None)
            return await next(call)
        if step.kind == "unavailable":
            error = ProviderUnavailable("503", status=503, hint_source="retry-after")
            error.retry_after = step.hint  # type: ignore[assignment]
            self.hints.append(sane(step.hint))
        elif step.kind == "ratelimited":
            error = RateLimited("429", hint_source="retry-info")
            error.retry_after = step.hint  # type: ignore[assignment]
            self.hints.append(sane(step.hint))
        elif step.kind == "timeout":
            error = AttemptTimeout("slow", timeout=1.0)
            self.hints.append(None)
        else:
            offset = sane(step.hint) or 0.0
            error = CircuitOpen("open", key=call.key, retry_at=clock.now() + offset)
            self.hints.append(max(0.0, error.retry_at - clock.now()))  # as floats round it
        raise error


policies = st.fixed_dictionaries(
    {
        "attempts": st.integers(min_value=1, max_value=6),
        "initial": st.floats(min_value=0.0, max_value=5.0),
        "multiplier": st.floats(min_value=1.0, max_value=4.0),
        "max_delay": st.floats(min_value=0.0, max_value=60.0),
        "jitter": st.sampled_from(["full", "equal", "decorrelated", "none"]),
        "max_retry_after": st.floats(min_value=0.0, max_value=120.0),
    }
).filter(
    lambda policy: policy["max_delay"] >= policy["initial"]
)  # a cap below the start is refused


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(steps, min_size=1, max_size=7),
    policy=policies,
    # At least 1 s: the client's deadline guard (the outer promise, ``genguard.deadline``)
    # runs its timer on the event loop's time, so a fake deadline of a few ms could be
    # hit in real time by a slow machine before the fake clock gets there.
    deadline=st.one_of(st.none(), st.floats(min_value=1.0, max_value=300.0)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_waits_obey_hints_and_bounds_and_the_deadline_is_never_passed(
    plan: list[Step], policy: dict[str, object], deadline: float | None, seed: int
) -> None:
    clock = FakeClock(start=0.0)
    rec = RecordingObserver()
    player = Player(plan)
    layer = RetryLayer(rng=random.Random(seed), **policy)  # type: ignore[arg-type]
    client = Client(StaticProvider(), [layer, player], clock=clock, observer=rec, deadline=deadline)

    async def run() -> BaseException | None:
        try:
            await client.generate("x")
        except Exception as error:
            return error
        return None

    outcome = asyncio.run(run())
    assert outcome is None or isinstance(outcome, GenGuardError), repr(outcome)

    attempts = len(player.starts)
    # With a deadline, a breaker refusal (nothing sent) does not use up an attempt.
    kinds = [plan[min(i + 1, len(plan)) - 1].kind for i in range(attempts)]
    sent = attempts if deadline is None else sum(kind != "circuit" for kind in kinds)
    assert attempts >= 1 and sent <= layer.attempts
    if deadline is not None:
        assert clock.now() <= deadline + 1e-9
        assert all(start < deadline for start in player.starts)
        if isinstance(outcome, DeadlineExceeded):
            # the deadline may cut a refusal short while it is being made
            assert outcome.attempts in (sent, sent + 1)

    delays = [event["delay"] for event in rec.of("retry_scheduled")]
    assert len(delays) == attempts - 1
    backoff: Backoff = layer.backoff
    for index, delay in enumerate(delays):
        # the gap between one attempt's end and the next's start is exactly the wait chosen
        assert math.isclose(player.starts[index + 1] - player.ends[index], delay, abs_tol=1e-6)
        hint = player.hints[index]
        refusal = kinds[index] == "circuit" and deadline is not None
        floor = REFUSAL_RECHECK if refusal else 0.0
        if hint is not None and hint > 0:
            upper = max(documented_bound(hint, backoff.max_delay), floor)
            assert max(hint, floor) <= delay <= upper + 1e-9
            assert hint <= layer.max_retry_after
        elif refusal:
            assert REFUSAL_RECHECK <= delay <= max(backoff.max_delay, REFUSAL_RECHECK) + 1e-9
        else:
            assert 0.0 <= delay <= backoff.max_delay + 1e-9
    # a hint the layer would not wait for ended the call at once, as RateLimited
    last = plan[min(attempts, len(plan)) - 1]
    if isinstance(outcome, RateLimited) and last.kind == "unavailable":
        hint = player.hints[-1]
        assert hint is not None and outcome.retry_after == hint
        assert isinstance(outcome.__cause__, ProviderUnavailable)
        left = None if deadline is None else deadline - player.ends[-1]
        assert hint > layer.max_retry_after or (left is not None and hint >= left)


@settings(max_examples=300, deadline=None)
@given(
    retry=st.integers(min_value=1, max_value=10_000),
    previous=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e6)),
    policy=policies,
    hint=st.floats(min_value=0.0, max_value=1e4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_delays_are_bounded_for_any_retry_number(
    retry: int, previous: float | None, policy: dict[str, object], hint: float, seed: int
) -> None:
    backoff = Backoff(
        policy["initial"],  # type: ignore[arg-type]
        policy["multiplier"],  # type: ignore[arg-type]
        policy["max_delay"],  # type: ignore[arg-type]
        policy["jitter"],  # type: ignore[arg-type]
    )
    rng = random.Random(seed)
    delay = backoff.delay(retry, previous, rng)
    assert 0.0 <= delay <= backoff.max_delay
    assert delay <= backoff.base(retry) or backoff.jitter == "decorrelated"
    with_hint = backoff.with_hint(delay, hint, rng)
    assert hint <= with_hint <= documented_bound(hint, backoff.max_delay)
    if backoff.jitter == "none":
        assert with_hint == max(hint, delay)
