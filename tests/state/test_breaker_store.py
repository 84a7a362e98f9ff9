"""The memory breaker store: genguard's state machine driven by outcome reports."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.errors import ConfigError
from genguard.state.breaker import (
    BreakerPolicy,
    BreakerStore,
    MemoryBreakerStore,
    Outcome,
    Permit,
    SlidingWindow,
    Transition,
)

KEY = "gemini/gemini-2.5-flash-image"


async def admit(store: MemoryBreakerStore, policy: BreakerPolicy, now: float) -> Permit:
    admission = await store.acquire(KEY, policy, now)
    assert admission.permit is not None, admission
    return admission.permit


async def fail_n(store: MemoryBreakerStore, policy: BreakerPolicy, n: int, now: float) -> list[str]:
    reasons: list[str] = []
    for _ in range(n):
        permit = await admit(store, policy, now)
        reasons += [t.reason for t in await store.record(permit, "failure", policy, now)]
    return reasons


def test_memory_store_implements_the_protocol() -> None:
    assert isinstance(MemoryBreakerStore(), BreakerStore)


async def test_trips_after_fail_max_consecutive_failures_and_reports_why() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy(fail_max=3, reset_timeout=10)
    assert await fail_n(store, policy, 2, 0.0) == []
    permit = await admit(store, policy, 0.0)
    transitions = await store.record(permit, "failure", policy, 1.0)
    assert [(t.key, t.old, t.new, t.reason) for t in transitions] == [
        (KEY, "closed", "open", "consecutive_failures")
    ]
    refused = await store.acquire(KEY, policy, 4.0)
    assert not refused.allowed and refused.state == "open"
    assert refused.retry_after == pytest.approx(7.0)  # opened at 1.0, reset_timeout 10


async def test_a_success_resets_the_consecutive_count_but_ignored_outcomes_do_not() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy(fail_max=3)
    await fail_n(store, policy, 2, 0.0)
    await store.record(await admit(store, policy, 0.0), "ignored", policy, 0.0)
    assert (await store.snapshot(KEY, policy, 0.0)).consecutive_failures == 2
    assert await fail_n(store, policy, 1, 0.0) == ["consecutive_failures"]

    store = MemoryBreakerStore()
    await fail_n(store, policy, 2, 0.0)
    await store.record(await admit(store, policy, 0.0), "success", policy, 0.0)
    assert await fail_n(store, policy, 2, 0.0) == []
    assert (await store.snapshot(KEY, policy, 0.0)).state == "closed"


async def test_half_open_after_reset_timeout_admits_only_the_allowed_probes() -> None:
    store, policy = (
        MemoryBreakerStore(),
        BreakerPolicy(fail_max=1, reset_timeout=5, half_open_probes=2),
    )
    await fail_n(store, policy, 1, 0.0)
    assert not (await store.acquire(KEY, policy, 4.999)).allowed
    first = await store.acquire(KEY, policy, 5.0)
    assert first.permit is not None and first.permit.probe
    assert [(t.old, t.new, t.reason) for t in first.transitions] == [
        ("open", "half_open", "reset_timeout")
    ]
    second = await store.acquire(KEY, policy, 5.0)
    third = await store.acquire(KEY, policy, 5.0)
    assert second.allowed and not third.allowed and third.state == "half_open"
    assert (await store.snapshot(KEY, policy, 5.0)).probes_in_flight == 2


async def test_a_probe_failure_reopens_for_twice_the_break() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy(fail_max=1, reset_timeout=5)
    await fail_n(store, policy, 1, 0.0)
    probe = await admit(store, policy, 6.0)
    transitions = await store.record(probe, "failure", policy, 8.0)
    assert [(t.old, t.new, t.reason) for t in transitions] == [
        ("half_open", "open", "probe_failed")
    ]
    refused = await store.acquire(KEY, policy, 9.0)
    assert refused.retry_after == pytest.approx(9.0)  # reopened at 8.0 for 2 x 5 s


async def test_the_break_doubles_per_failed_probe_up_to_the_cap_and_resets_on_close() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=1, reset_timeout=5, max_reset_timeout=30)
    await fail_n(store, policy, 1, 0.0)
    now, breaks = 0.0, []
    for _ in range(5):
        breaks.append((await store.acquire(KEY, policy, now)).retry_after)
        now += breaks[-1]
        probe = await admit(store, policy, now)
        await store.record(probe, "failure", policy, now)
    assert breaks == [5.0, 10.0, 20.0, 30.0, 30.0]
    now += 30.0
    probe = await admit(store, policy, now)
    await store.record(probe, "success", policy, now)  # closes: the next break is the base again
    await fail_n(store, policy, 1, now)
    assert (await store.acquire(KEY, policy, now)).retry_after == pytest.approx(5.0)


async def test_the_default_policy_trips_on_a_ratio_not_on_a_run_of_failures() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy()
    assert (policy.fail_max, policy.failure_ratio, policy.min_calls) == (None, 0.5, 20)
    assert await fail_n(store, policy, 19, 0.0) == []  # 19 in a row: fewer than min_calls
    assert await fail_n(store, policy, 1, 0.0) == ["failure_ratio"]


def test_a_policy_with_nothing_to_trip_on_is_refused() -> None:
    with pytest.raises(ConfigError, match="failure_ratio"):
        BreakerPolicy(fail_max=None, failure_ratio=None)


async def test_success_threshold_probes_close_it_and_the_counters_start_over() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=2, reset_timeout=1, success_threshold=2)
    await fail_n(store, policy, 2, 0.0)
    probe = await admit(store, policy, 1.0)
    assert await store.record(probe, "success", policy, 1.0) == ()
    assert (await store.snapshot(KEY, policy, 1.0)).half_open_successes == 1
    probe = await admit(store, policy, 1.0)
    transitions = await store.record(probe, "success", policy, 1.0)
    assert [(t.old, t.new, t.reason) for t in transitions] == [
        ("half_open", "closed", "probes_succeeded")
    ]
    snap = await store.snapshot(KEY, policy, 1.0)
    assert (snap.state, snap.consecutive_failures, snap.half_open_successes) == ("closed", 0, 0)
    assert await fail_n(store, policy, 1, 1.0) == []  # one failure is not two


async def test_an_ignored_probe_frees_its_slot_without_closing() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy(fail_max=1, reset_timeout=1)
    await fail_n(store, policy, 1, 0.0)
    probe = await admit(store, policy, 1.0)
    assert not (await store.acquire(KEY, policy, 1.0)).allowed
    assert await store.record(probe, "ignored", policy, 1.0) == ()
    snap = await store.snapshot(KEY, policy, 1.0)
    assert (snap.state, snap.probes_in_flight) == ("half_open", 0)
    assert (await store.acquire(KEY, policy, 1.0)).allowed


async def test_outcomes_from_an_earlier_state_period_change_nothing() -> None:
    store, policy = MemoryBreakerStore(), BreakerPolicy(fail_max=1, reset_timeout=1)
    slow = await admit(store, policy, 0.0)  # admitted while closed, answers much later
    await fail_n(store, policy, 1, 0.0)
    probe = await admit(store, policy, 1.0)
    # The slow call's success must not close the half-open breaker, nor its failure reopen it.
    assert await store.record(slow, "success", policy, 1.0) == ()
    assert await store.record(slow, "failure", policy, 1.0) == ()
    assert (await store.snapshot(KEY, policy, 1.0)).state == "half_open"
    assert [t.new for t in await store.record(probe, "success", policy, 1.0)] == ["closed"]


async def test_failure_ratio_trips_without_consecutive_failures() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=5, failure_ratio=0.5, window=60, min_calls=10)
    reasons: list[str] = []
    for i in range(10):  # fail, ok, fail, ok... never two failures in a row
        permit = await admit(store, policy, float(i))
        outcome: Outcome = "failure" if i % 2 == 0 else "success"
        reasons += [t.reason for t in await store.record(permit, outcome, policy, float(i))]
    assert reasons == []  # 5/10 but the 10th call was a success: checked on failures only
    permit = await admit(store, policy, 10.0)
    reasons = [t.reason for t in await store.record(permit, "failure", policy, 10.0)]
    assert reasons == ["failure_ratio"]


async def test_failure_ratio_needs_min_calls_and_forgets_old_calls() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=100, failure_ratio=0.5, window=10, min_calls=4)
    assert await fail_n(store, policy, 3, 0.0) == []  # 3 calls < min_calls
    # 20 s later the old failures have left the window: 1 failure, 1 call.
    assert await fail_n(store, policy, 1, 20.0) == []
    snap = await store.snapshot(KEY, policy, 20.0)
    assert (snap.window_calls, snap.window_failures) == (1, 1)
    assert await fail_n(store, policy, 3, 20.0) == ["failure_ratio"]


async def test_the_ratio_window_starts_empty_after_the_breaker_closes() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=100, reset_timeout=1, failure_ratio=0.5, min_calls=4)
    assert await fail_n(store, policy, 4, 0.0) == ["failure_ratio"]
    probe = await admit(store, policy, 1.0)
    await store.record(probe, "success", policy, 1.0)
    assert await fail_n(store, policy, 3, 1.0) == []  # would re-trip at once if not cleared


async def test_keys_are_independent_and_bounded() -> None:
    store, policy = MemoryBreakerStore(max_keys=3), BreakerPolicy(fail_max=1)
    permit = await admit(store, policy, 0.0)
    await store.record(permit, "failure", policy, 0.0)
    assert (await store.acquire("openai/gpt-image-1", policy, 0.0)).allowed
    for i in range(10):
        await store.acquire(f"tenant-{i}", policy, 0.0)
    assert len(store) == 3 and store.evictions == 9
    # The open breaker, though least recently used, was kept: closed ones went first.
    assert not (await store.acquire(KEY, policy, 0.0)).allowed


async def test_an_outcome_for_a_forgotten_key_is_dropped() -> None:
    store, policy = MemoryBreakerStore(max_keys=1), BreakerPolicy(fail_max=1)
    permit = await admit(store, policy, 0.0)
    await store.acquire("other", policy, 0.0)  # evicts KEY
    assert await store.record(permit, "failure", policy, 0.0) == ()
    assert (await store.snapshot(KEY, policy, 0.0)).state == "closed"


async def test_the_failure_count_survives_the_open_period_and_clears_on_closing() -> None:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=2, reset_timeout=1, failure_ratio=None)
    await fail_n(store, policy, 2, 0.0)
    snap = await store.snapshot(KEY, policy, 0.5)
    assert (snap.state, snap.consecutive_failures, snap.retry_after) == ("open", 2, 0.5)
    probe = await admit(store, policy, 1.0)  # open -> half_open, the count is kept
    assert (await store.snapshot(KEY, policy, 1.0)).consecutive_failures == 2
    await store.record(probe, "success", policy, 1.0)
    snap = await store.snapshot(KEY, policy, 1.0)
    assert (snap.state, snap.consecutive_failures) == ("closed", 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fail_max", 0),
        ("fail_max", 1.5),
        ("half_open_probes", 0),
        ("success_threshold", -1),
        ("min_calls", True),
        ("reset_timeout", 0),
        ("reset_timeout", float("nan")),
        ("window", -1),
        ("failure_ratio", 0),
        ("failure_ratio", 1.5),
    ],
)
def test_bad_policy_is_a_config_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        BreakerPolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.path == f"circuit_breaker.{field}"


def test_bad_max_keys_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        MemoryBreakerStore(max_keys=0)


@settings(max_examples=200, deadline=None)
@given(
    span=st.floats(min_value=0.5, max_value=100),
    buckets=st.integers(min_value=1, max_value=30),
    events=st.lists(st.tuples(st.floats(min_value=0, max_value=50), st.booleans()), max_size=60),
    probe=st.floats(min_value=0, max_value=200),
)
def test_window_counts_match_a_brute_force_count(
    span: float, buckets: int, events: list[tuple[float, bool]], probe: float
) -> None:
    window = SlidingWindow(span, buckets)
    events = sorted(events)
    for t, failed in events:
        window.add(t, failed)
    now = max([probe, *(t for t, _ in events)])
    width = span / buckets
    current = math.floor(now / width)
    live = [(t, f) for t, f in events if current - buckets < math.floor(t / width) <= current]
    assert window.counts(now) == (len(live), sum(f for _, f in live))
    # What it counts is never older than the span (plus float slack), and the newest
    # (span - width) seconds are always counted.
    assert all(now - t <= span + 1e-9 for t, _ in live)
    recent = [t for t, _ in events if now - t < span - width - 1e-9]
    assert len(recent) <= len(live)


ALLOWED = {
    ("closed", "open"): {"consecutive_failures", "failure_ratio"},
    ("open", "half_open"): {"reset_timeout"},
    ("half_open", "open"): {"probe_failed"},
    ("half_open", "closed"): {"probes_succeeded"},
}

operations = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, 0)),
        st.tuples(st.sampled_from(["success", "failure", "ignored"]), st.integers(0, 50)),
        st.tuples(st.just("advance"), st.integers(1, 40)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=operations,
    fail_max=st.integers(1, 4),
    probes=st.integers(1, 3),
    threshold=st.integers(1, 3),
    ratio=st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0])),
)
async def test_any_interleaving_keeps_the_state_machine_honest(
    ops: list[tuple[str, int]], fail_max: int, probes: int, threshold: int, ratio: float | None
) -> None:
    """Random admissions, outcomes (in any order) and time: the invariants always hold."""
    policy = BreakerPolicy(
        fail_max=fail_max,
        reset_timeout=1.0,
        half_open_probes=probes,
        success_threshold=threshold,
        failure_ratio=ratio,
        window=5.0,
        min_calls=3,
    )
    store = MemoryBreakerStore()
    now, opened_at, trips = 0.0, 0.0, 0
    state: str = "closed"
    outstanding: list[Permit] = []

    def follow(transitions: tuple[Transition, ...], outcome: str | None) -> None:
        nonlocal state, opened_at, trips
        for t in transitions:
            assert t.old == state, (t, state)
            assert t.reason in ALLOWED[(t.old, t.new)]
            if t.new == "closed":
                assert outcome == "success"
            if t.old == "closed" or (t.old, t.new) == ("half_open", "open"):
                assert outcome == "failure"
            state = t.new
            if state == "open":
                opened_at = now
                trips = trips + 1 if t.reason == "probe_failed" else 1
            elif state == "closed":
                trips = 0

    for op, arg in ops:
        if op == "advance":
            now += arg / 10
        elif op == "acquire":
            admission = await store.acquire(KEY, policy, now)
            follow(admission.transitions, None)
            assert admission.state == state
            if state == "open":
                assert not admission.allowed and admission.retry_after > 0
                assert now < opened_at + policy.break_for(trips)  # doubled per failed probe
            if admission.permit is not None:
                outstanding.append(admission.permit)
        elif outstanding:
            permit = outstanding.pop(arg % len(outstanding))
            transitions = await store.record(permit, op, policy, now)  # type: ignore[arg-type]
            if op == "ignored":
                assert transitions == ()
            follow(transitions, op)
        snap = await store.snapshot(KEY, policy, now)
        assert snap.state == state
        live_probes = [p for p in outstanding if p.probe and p.epoch == store._entries[KEY].epoch]
        assert snap.probes_in_flight == (len(live_probes) if state == "half_open" else 0)
        assert snap.probes_in_flight <= probes
