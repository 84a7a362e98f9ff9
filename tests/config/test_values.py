"""Durations, rates and sizes: every parser reads back what its formatter writes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard.config.values import (
    RateSpec,
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("3", 3.0),
        (0.5, 0.5),
        (" 10S ", 10.0),
        (".5s", 0.5),
        ("0", 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    ["soon", "1.5", "-1s", "1s2", "ms", "1 minute", "1s1s", "", "inf", "nan", True, None, [1]],
)
def test_bad_durations(bad: object) -> None:
    if bad == "1.5":
        assert parse_duration(bad) == 1.5  # a bare number is seconds
        return
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/min", RateSpec(60, 60)),
        ("5/s", RateSpec(5, 1)),
        ("1000/h", RateSpec(1000, 3600)),
        ("100/day", RateSpec(100, 86400)),
        ("10/30s", RateSpec(10, 30)),
        (2.5, RateSpec(2.5, 1)),
        ("60/minute", RateSpec(60, 60)),
    ],
)
def test_rates(text: object, rate: RateSpec) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "bad", ["60", "60/fortnight", "0/s", "-1/s", "/min", "x/min", "5/0s", False]
)
def test_bad_rates(bad: object) -> None:
    if bad == "60":
        assert parse_rate(bad) == RateSpec(60, 1)
        return
    with pytest.raises(ValueError):
        parse_rate(bad)


def test_sizes() -> None:
    assert parse_size("64MiB") == 64 * 1024 * 1024
    assert parse_size("1.5MB") == 1_500_000
    assert parse_size(512) == 512
    for bad in ("lots", "1.5B", "-1", "1TB", 1.5, True):
        with pytest.raises(ValueError):
            parse_size(bad)


finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(finite)
def test_duration_round_trip(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(["ms", "s", "m", "h"]))
def test_duration_units(count: int, unit: str) -> None:
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    assert parse_duration(f"{count}{unit}") == pytest.approx(count * scale)


@given(
    st.floats(min_value=1e-6, max_value=1e9, allow_nan=False),
    st.sampled_from([1.0, 60.0, 3600.0, 86400.0, 30.0, 0.5]),
)
def test_rate_round_trip(amount: float, per: float) -> None:
    rate = RateSpec(amount, per)
    assert parse_rate(format_rate(rate)) == rate


@given(st.integers(min_value=0, max_value=2**50))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none(), st.booleans()))
def test_parsers_only_raise_value_error(value: object) -> None:
    for parse in (parse_duration, parse_rate, parse_size):
        with contextlib.suppress(ValueError):
            parse(value)
