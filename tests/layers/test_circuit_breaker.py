"""The circuit breaker layer, alone, with hand-written handlers and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import support
from genguard.clock import FakeClock
from genguard.errors import (
    AttemptTimeout,
    AuthenticationError,
    BadRequest,
    BulkheadFull,
    CircuitOpen,
    ContentBlocked,
    DeadlineExceeded,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
)
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.model import Call, GenerationResult, Image
from genguard.observe import RecordingObserver
from genguard.state.breaker import Admission, BreakerPolicy, BreakerSnapshot, Outcome, Permit

KEY = "gemini/gemini-2.5-flash-image"


def make_call(clock: FakeClock, observer: RecordingObserver, key: str = KEY) -> Call:
    provider, model = key.split("/")
    return support.make_call(clock, observer, prompt="a lighthouse", provider=provider, model=model)


def ok(call: Call) -> GenerationResult:
    return GenerationResult(
        images=(Image(b"png"),),
        generation_id=call.generation_id,
        provider=call.provider,
        model=call.model,
    )


class Backend:
    """A `next` handler that counts calls and fails with `error` while it is set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.in_flight = 0

    async def __call__(self, call: Call) -> GenerationResult:
        self.calls += 1
        self.in_flight += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.error is not None:
                raise self.error
            return ok(call)
        finally:
            self.in_flight -= 1


async def trip(layer: CircuitBreakerLayer, call: Call, times: int) -> None:
    backend = Backend(ProviderUnavailable("503", status=503))
    for _ in range(times):
        with pytest.raises(ProviderUnavailable):
            await layer(call, backend)


@pytest.mark.parametrize(
    ("error", "counted", "expected"),
    [
        (ProviderUnavailable("503", status=503), False, "failure"),
        (ProviderUnavailable("reset", code="connection_error"), False, "failure"),
        (AttemptTimeout("slow", timeout=1), False, "failure"),
        (ConnectionResetError(), False, "failure"),
        (ProviderError("502", status=502), False, "failure"),
        (ResponseError("html from a proxy", status=502), False, "failure"),
        (ResponseError("bad json", status=200), False, "ignored"),
        (ContentBlocked("no", stage="input", category="x", source="provider"), True, "ignored"),
        (BadRequest("bad", status=400), True, "ignored"),
        (AuthenticationError("key", status=401), True, "ignored"),
        (QuotaExhausted("billing", status=429), True, "ignored"),
        (DeadlineExceeded("late"), True, "ignored"),
        (BulkheadFull("full", key=KEY), True, "ignored"),
        (asyncio.CancelledError(), True, "ignored"),
        (KeyError("bug"), True, "ignored"),
        (RateLimited("429"), False, "ignored"),
        (RateLimited("429"), True, "failure"),
        (RateLimited("our own limiter", scope="client"), True, "ignored"),
    ],
)
def test_outcome_reads_the_error_facts(
    error: BaseException, counted: bool, expected: Outcome
) -> None:
    assert CircuitBreakerLayer(count_rate_limited=counted).outcome(error) == expected


async def test_trips_after_fail_max_and_then_fails_fast_without_calling_next(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=3, reset_timeout=30)
    call = make_call(fake_clock, recorder)
    await trip(layer, call, 3)
    backend = Backend()
    fake_clock.advance(10)
    with pytest.raises(CircuitOpen) as info:
        await layer(call, backend)
    assert backend.calls == 0
    assert info.value.key == KEY
    assert info.value.retry_at == pytest.approx(fake_clock.now() + 20)  # opened 10 s ago
    assert recorder.of("breaker_changed") == [
        {"breaker_key": KEY, "old": "closed", "new": "open", "reason": "consecutive_failures"}
    ]


async def test_recovers_through_half_open_and_reports_every_change(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=1, reset_timeout=5)
    call = make_call(fake_clock, recorder)
    await trip(layer, call, 1)
    fake_clock.advance(5)
    result = await layer(call, Backend())
    assert result.provider == "gemini"
    assert [(e["old"], e["new"], e["reason"]) for e in recorder.of("breaker_changed")] == [
        ("closed", "open", "consecutive_failures"),
        ("open", "half_open", "reset_timeout"),
        ("half_open", "closed", "probes_succeeded"),
    ]
    assert (await layer.snapshot(KEY, clock=fake_clock)).state == "closed"


@pytest.mark.parametrize("probes", [1, 3])
async def test_race_100_coroutines_in_half_open_only_the_probes_reach_the_backend(
    fake_clock: FakeClock, recorder: RecordingObserver, probes: int
) -> None:
    layer = CircuitBreakerLayer(fail_max=1, reset_timeout=5, half_open_probes=probes)
    call = make_call(fake_clock, recorder)
    await trip(layer, call, 1)
    fake_clock.advance(5)
    backend = Backend()
    backend.gate = asyncio.Event()  # hold the probes in flight while the others arrive
    tasks = [
        asyncio.create_task(layer(make_call(fake_clock, recorder), backend)) for _ in range(100)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    assert backend.calls == probes and backend.in_flight == probes
    backend.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    served = [o for o in outcomes if isinstance(o, GenerationResult)]
    refused = [o for o in outcomes if isinstance(o, CircuitOpen)]
    assert len(served) == probes and len(refused) == 100 - probes
    assert backend.calls == probes
    assert all(r.key == KEY and r.retry_at >= fake_clock.now() for r in refused)
    assert (await layer.snapshot(KEY, clock=fake_clock)).state == "closed"


async def test_cancellation_propagates_as_is_and_is_not_a_failure(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=1)
    backend = Backend()
    backend.gate = asyncio.Event()
    task = asyncio.create_task(layer(make_call(fake_clock, recorder), backend))
    await asyncio.sleep(0)
    assert backend.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.in_flight == 0
    snap = await layer.snapshot(KEY, clock=fake_clock)
    assert (snap.state, snap.consecutive_failures) == ("closed", 0)
    assert recorder.of("breaker_changed") == []


async def test_a_cancelled_probe_frees_its_slot_and_stays_a_cancellation(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=1, reset_timeout=1)
    call = make_call(fake_clock, recorder)
    await trip(layer, call, 1)
    fake_clock.advance(1)
    backend = Backend()
    backend.gate = asyncio.Event()
    probe = asyncio.create_task(layer(call, backend))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpen):
        await layer(call, Backend())  # the one slot is taken
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    await layer.aclose()  # waits for the background release
    snap = await layer.snapshot(KEY, clock=fake_clock)
    assert (snap.state, snap.probes_in_flight) == ("half_open", 0)
    assert (await layer(call, Backend())).provider == "gemini"  # a new probe, which closes it
    assert (await layer.snapshot(KEY, clock=fake_clock)).state == "closed"


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("bad", status=400),
        ContentBlocked("no", stage="output", category="sexual", source="provider"),
        AuthenticationError("key", status=401),
        QuotaExhausted("billing"),
    ],
)
async def test_excluded_errors_neither_close_a_half_open_breaker_nor_trip_a_closed_one(
    fake_clock: FakeClock, recorder: RecordingObserver, error: BaseException
) -> None:
    layer = CircuitBreakerLayer(fail_max=2, reset_timeout=1)
    call = make_call(fake_clock, recorder)
    for _ in range(5):
        with pytest.raises(type(error)):
            await layer(call, Backend(error))
    assert (await layer.snapshot(KEY, clock=fake_clock)).state == "closed"
    await trip(layer, call, 2)
    fake_clock.advance(1)
    with pytest.raises(type(error)):
        await layer(call, Backend(error))  # the probe comes back blocked / bad
    snap = await layer.snapshot(KEY, clock=fake_clock)
    assert (snap.state, snap.probes_in_flight) == ("half_open", 0)


async def test_rate_limited_counts_only_when_configured(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    for counted, state in ((False, "closed"), (True, "open")):
        layer = CircuitBreakerLayer(fail_max=2, count_rate_limited=counted)
        call = make_call(fake_clock, recorder)
        for _ in range(2):
            with pytest.raises(RateLimited):
                await layer(call, Backend(RateLimited("429", retry_after=1)))
        assert (await layer.snapshot(KEY, clock=fake_clock)).state == state


async def test_keys_have_their_own_breakers(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=1)
    await trip(layer, make_call(fake_clock, recorder), 1)
    other = make_call(fake_clock, recorder, "openai/gpt-image-1")
    assert (await layer(other, Backend())).provider == "openai"
    with pytest.raises(CircuitOpen):
        await layer(make_call(fake_clock, recorder), Backend())


async def test_failure_ratio_trips_at_high_traffic(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    layer = CircuitBreakerLayer(fail_max=5, failure_ratio=0.5, window=10, min_calls=20)
    call = make_call(fake_clock, recorder)
    failing, healthy = Backend(ProviderUnavailable("503", status=503)), Backend()
    for i in range(20):
        fake_clock.advance(0.1)
        if i % 2:
            await layer(call, healthy)
        else:
            with pytest.raises(ProviderUnavailable):
                await layer(call, failing)
    with pytest.raises(ProviderUnavailable):
        await layer(call, failing)  # 11/21 failed
    assert recorder.of("breaker_changed")[-1]["reason"] == "failure_ratio"
    with pytest.raises(CircuitOpen):
        await layer(call, healthy)


async def test_the_layer_clock_wins_over_the_call_clock(recorder: RecordingObserver) -> None:
    mine, theirs = FakeClock(start=0.0), FakeClock(start=5000.0)
    layer = CircuitBreakerLayer(fail_max=1, reset_timeout=10, clock=mine)
    call = make_call(theirs, recorder)
    await trip(layer, call, 1)
    with pytest.raises(CircuitOpen) as info:
        await layer(call, Backend())
    assert info.value.retry_at == pytest.approx(10.0)


class BrokenStore:
    """A shared store whose outcome reports fail (e.g. Redis went away)."""

    def __init__(self) -> None:
        self.records = 0

    async def acquire(self, key: str, policy: BreakerPolicy, now: float) -> Admission:
        return Admission(Permit(key, 0, False), "closed")

    async def record(
        self, permit: Permit, outcome: Outcome, policy: BreakerPolicy, now: float
    ) -> tuple[()]:
        self.records += 1
        raise ConnectionError("redis is down")

    async def snapshot(self, key: str, policy: BreakerPolicy, now: float) -> BreakerSnapshot:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_a_failing_store_never_masks_the_attempts_own_outcome(
    fake_clock: FakeClock, recorder: RecordingObserver
) -> None:
    store = BrokenStore()
    layer = CircuitBreakerLayer(store=store)
    call = make_call(fake_clock, recorder)
    assert (await layer(call, Backend())).provider == "gemini"
    with pytest.raises(ProviderUnavailable):
        await layer(call, Backend(ProviderUnavailable("503", status=503)))
    assert store.records == 2
    assert [e["action"] for e in recorder.of("backend_error")] == ["outcome_dropped"] * 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: CircuitBreakerLayer(fail_max=0),
        lambda: CircuitBreakerLayer(reset_timeout=-1),
        lambda: CircuitBreakerLayer(failure_ratio=2.0),
        lambda: CircuitBreakerLayer(max_keys=0),
    ],
)
def test_bad_options_are_config_errors(make: Callable[[], object]) -> None:
    from genguard.errors import ConfigError

    with pytest.raises(ConfigError):
        make()


def test_repr_names_the_policy() -> None:
    text = repr(CircuitBreakerLayer(fail_max=3, failure_ratio=0.5))
    assert "fail_max=3" in text and "failure_ratio=0.5" in text
