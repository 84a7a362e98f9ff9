"""One grammar for Python and files: a rate or duration reads the same in a layer and a file."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genguard.config import Pipeline
from genguard.errors import ConfigError
from genguard.layers.rate_limit import Rate, RateLimitLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.options import RATE_UNITS, RateSpec, parse_duration, parse_rate

units = st.sampled_from(sorted(RATE_UNITS))
amounts = st.integers(min_value=1, max_value=10**6)
spellings = st.one_of(
    st.builds(lambda a, u: f"{a}/{u}", amounts, units),
    st.builds(lambda a, n, u: f"{a}/{n}{u}", amounts, st.integers(1, 90), units),
    st.builds(lambda a, n, u: f" {a} / {n} {u} ", amounts, st.integers(1, 90), units),
    st.text(max_size=12),
)


def _file_rate(text: str) -> RateSpec | None:
    profile = Pipeline.builder("p").provider("sim").rate_limit(requests=text).build_config()
    layer = profile.layers[0]
    return layer.requests  # type: ignore[attr-defined, no-any-return]


@given(spellings)
def test_python_and_files_read_every_rate_alike(text: str) -> None:
    try:
        python = Rate.parse(text, "requests")
    except ConfigError:
        python = None
    try:
        spec = _file_rate(text)
        file = None if spec is None else Rate(spec.amount, spec.per)
    except ConfigError:
        file = None
    assert python == file


@given(spellings)
def test_the_rate_parser_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        spec = parse_rate(text)
        assert spec.amount > 0 and spec.per > 0


def test_plural_and_spaced_periods_read_in_files_as_in_python() -> None:
    assert _file_rate("100/days") == RateSpec(100, 86400)
    assert _file_rate("2.5 / 2 minutes") == RateSpec(2.5, 120)
    assert _file_rate("1/500ms") == RateSpec(1, 0.5)
    assert RateLimitLayer(requests="100/days").requests == Rate(100, 86400)


@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
def test_a_layer_reads_a_duration_as_a_file_does(seconds: float) -> None:
    text = f"{seconds!r}s"
    assert TimeoutLayer(text).attempt == parse_duration(text)


def test_a_bad_rate_names_the_layer_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitLayer(requests="5/fortnight")
    assert info.value.path == "rate_limit.requests"
    assert "unknown unit 'fortnight'" in info.value.reason
