"""The retry budget: retries <= ratio * recent calls + min_per_s * ttl, per key, sliding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.errors import ConfigError
from genguard.layers.retry_budget import RetryBudget


def test_retries_are_a_fraction_of_calls() -> None:
    budget = RetryBudget(ratio=0.5, min_per_s=0.0, ttl=10)
    for _ in range(4):
        budget.record_call("k", 0.0)
    assert [budget.try_retry("k", 1.0) for _ in range(3)] == [True, True, False]
    snap = budget.snapshot("k", 1.0)
    assert (snap.calls, snap.retries, snap.allowed, snap.available) == (4, 2, 2, 0)


def test_min_per_s_is_a_floor_for_quiet_clients() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=0.5, ttl=10)  # 5 retries per window with no calls
    budget.record_call("k", 0.0)
    granted = sum(budget.try_retry("k", 0.0) for _ in range(10))
    assert granted == 5  # floor(0.2 * 1 + 0.5 * 10)


def test_the_window_slides_so_old_traffic_stops_counting() -> None:
    budget = RetryBudget(ratio=1.0, min_per_s=0.0, ttl=10)
    for _ in range(3):
        budget.record_call("k", 0.0)
    assert all(budget.try_retry("k", 0.5) for _ in range(3))
    assert not budget.try_retry("k", 5.0)
    # 10 s later both the calls and the retries have aged out: nothing earned, nothing spent
    assert not budget.try_retry("k", 10.5)
    budget.record_call("k", 10.5)
    assert budget.try_retry("k", 10.5)
    assert budget.snapshot("k", 10.5).calls == 1


def test_keys_have_separate_budgets() -> None:
    budget = RetryBudget(ratio=1.0, min_per_s=0.0)
    budget.record_call("a", 0.0)
    assert budget.try_retry("a", 0.0) and not budget.try_retry("a", 0.0)
    assert not budget.try_retry("b", 0.0)
    budget.record_call("b", 0.0)
    assert budget.try_retry("b", 0.0)


def test_key_count_is_bounded() -> None:
    budget = RetryBudget(max_keys=3, ttl=10)
    for index in range(10):
        budget.record_call(f"tenant-{index}", float(index) * 20)
    assert len(budget._windows) <= 3
    budget = RetryBudget(max_keys=2, ttl=10)
    for index in range(5):  # all active at once: the least recently used goes
        budget.record_call(f"tenant-{index}", 0.0)
    assert len(budget._windows) == 2


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"ratio": -0.1}, "retry.budget.ratio"),
        ({"ratio": float("nan")}, "retry.budget.ratio"),
        ({"min_per_s": "lots"}, "retry.budget.min_per_s"),
        ({"ttl": 0}, "retry.budget.ttl"),
        ({"max_keys": 0}, "retry.budget.max_keys"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryBudget(**options)
    assert info.value.path == path


events = st.lists(
    st.tuples(
        st.sampled_from(["call", "retry"]),
        st.sampled_from(["a", "b"]),
        st.floats(min_value=0.0, max_value=5.0),  # time step
    ),
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(
    events=events,
    ratio=st.floats(min_value=0.0, max_value=1.0),
    min_per_s=st.floats(min_value=0.0, max_value=2.0),
    ttl=st.floats(min_value=0.5, max_value=30.0),
)
def test_granted_retries_never_exceed_the_budget_in_any_window(
    events: list[tuple[str, str, float]], ratio: float, min_per_s: float, ttl: float
) -> None:
    budget = RetryBudget(ratio=ratio, min_per_s=min_per_s, ttl=ttl)
    now = 0.0
    log: list[tuple[str, str, float]] = []
    for kind, key, step in events:
        now += step
        if kind == "call":
            budget.record_call(key, now)
            log.append(("call", key, now))
        elif budget.try_retry(key, now):
            log.append(("retry", key, now))
            # Exactly the last ttl seconds count: recount them from the log.
            recent = [(k, ky) for k, ky, t in log if ky == key and t > now - ttl]
            calls = sum(1 for k, _ in recent if k == "call")
            retries = sum(1 for k, _ in recent if k == "retry")
            assert retries <= ratio * calls + min_per_s * ttl + 1e-6
