"""``Rate``: the parser of ``60/min``-style rates, with property tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard.errors import ConfigError
from genguard.layers.rate_limit import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "amount", "per"),
    [
        ("60/min", 60, 60),
        ("5/s", 5, 1),
        ("100000/h", 100000, 3600),
        ("100/day", 100, 86400),
        ("10/30s", 10, 30),
        ("1/500ms", 1, 0.5),
        (" 2.5 / 2 minutes ", 2.5, 120),
        ("7/HOUR", 7, 3600),
        ("3", 3, 1),
        ("1e3/min", 1000, 60),
    ],
)
def test_parses_the_usual_spellings(text: str, amount: float, per: float) -> None:
    rate = Rate.parse(text, "requests")
    assert (rate.amount, rate.per_seconds) == (amount, per)
    assert rate.per_second == pytest.approx(amount / per)


@pytest.mark.parametrize(
    "text", ["0/s", "-5/min", "5/fortnight", "5/", "/s", "five/s", "5/0s", "5/-1s", "", "nan/s"]
)
def test_bad_rates_name_the_field(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Rate.parse(text, "images")
    assert info.value.path == "images"
    assert text.strip() == "" or repr(text) in str(info.value)


def test_unknown_units_say_which() -> None:
    with pytest.raises(ConfigError, match="unknown unit 'fortnight'"):
        parse_rate("5/fortnight", "requests")


@pytest.mark.parametrize("value", [0, -1, float("inf"), True, None, [60, "min"]])
def test_non_strings(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        Rate.parse(value, "tokens")
    assert info.value.path == "tokens"


def test_numbers_and_rate_like_objects() -> None:
    @dataclass
    class Spec:  # the config package's RateSpec has this shape
        amount: float
        per: float

    assert Rate.parse(4) == Rate(4.0, 1.0)
    assert Rate.parse(Spec(60, 60.0)) == Rate(60.0, 60.0)
    rate = Rate(1, 3600)
    assert Rate.parse(rate) is rate
    with pytest.raises(ConfigError):
        Rate.parse(Spec(0, 60.0))
    with pytest.raises(ConfigError):
        Rate(1, 0)


@pytest.mark.parametrize(
    ("rate", "text"),
    [(Rate(60, 60), "60/min"), (Rate(5, 1), "5/s"), (Rate(1.5, 30), "1.5/30s")],
)
def test_str(rate: Rate, text: str) -> None:
    assert str(rate) == text


@given(
    amount=st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False),
    per=st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
)
def test_str_parses_back_equal(amount: float, per: float) -> None:
    rate = Rate(amount, per)
    assert Rate.parse(str(rate)) == rate


@given(st.text(max_size=40))
def test_any_text_is_a_rate_or_a_config_error(text: str) -> None:
    try:
        rate = Rate.parse(text, "requests")
    except ConfigError as error:
        assert error.path == "requests"
    else:
        assert rate.amount > 0 and rate.per_seconds > 0


@given(
    st.integers(1, 10**6),
    st.sampled_from(["s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"]),
)
def test_every_unit_word(amount: int, unit: str) -> None:
    rate = Rate.parse(f"{amount}/{unit}")
    assert rate.amount == amount
    assert rate.per_seconds in (1.0, 60.0, 3600.0, 86400.0)
