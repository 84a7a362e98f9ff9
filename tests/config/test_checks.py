"""Order checks: self-defeating stacks warn, with codes that can be silenced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genguard.config import CHECK_CODES, Pipeline, check_order


def codes(builder: object) -> list[str]:
    profile = builder.build_config(env={})  # type: ignore[attr-defined]
    return [w.code for w in check_order(profile, "profiles.default")]


def base() -> object:
    return Pipeline.builder().provider("sim").deadline("30s")


def test_recommended_order_is_clean() -> None:
    b = base().telemetry().safety(input="rules").fallback("x").retry().circuit_breaker()  # type: ignore[attr-defined]
    b = b.rate_limit(requests="1/s").timeout("5s")
    assert codes(b) == []


CASES = [
    (lambda b: b.retry().telemetry(), ["telemetry_not_outermost"]),
    (lambda b: b.rate_limit(concurrency=2).retry(), ["rate_limit_outside_retry"]),
    (lambda b: b.circuit_breaker().retry(), ["circuit_breaker_outside_retry"]),
    (lambda b: b.timeout("1s").retry(), ["timeout_outside_retry"]),
    (lambda b: b.timeout("1s").rate_limit(requests="1/s"), ["timeout_outside_rate_limit"]),
    (lambda b: b.retry().safety(), ["safety_inside_retry"]),
    (lambda b: b.retry().fallback("x"), ["fallback_inside_retry"]),
    (lambda b: b.retry().retry(), ["duplicate_layer"]),
    (lambda b: b.layer("budget", limits={"day": "1"}).retry(), ["budget_outside_retry"]),
    (
        lambda b: b.retry().rate_limit(requests="1/s").layer("budget", limits={"day": "1"}),
        ["budget_after_rate_limit"],
    ),
]


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_each_check(build: object, expected: list[str]) -> None:
    assert codes(build(base())) == expected  # type: ignore[operator]


def test_retry_without_deadline_and_ignore() -> None:
    assert codes(Pipeline.builder().provider("sim").retry()) == ["retry_without_deadline"]
    quiet = Pipeline.builder().provider("sim").retry().ignore_checks("retry_without_deadline")
    assert codes(quiet) == []


DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_code_is_documented() -> None:
    """Each code has a row in docs/configuration.md carrying the very text the warning
    shows, and that text names the layers (or setting) the code is about."""
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.+?) \|$", DOC.read_text(), re.M))
    for code, why in CHECK_CODES.items():
        assert rows.get(code) == why, code
        subjects = {"layer"} if code == "duplicate_layer" else set(LAYER_WORDS.findall(code))
        assert subjects and all(
            word.replace("_", " ") in why.replace("_", " ") for word in subjects
        ), code


LAYER_WORDS = re.compile(
    r"telemetry|rate_limit|circuit_breaker|retry|timeout|safety|fallback|deadline|budget"
)


def test_every_code_is_produced_by_some_stack() -> None:
    produced = {code for _, expected in CASES for code in expected} | {"retry_without_deadline"}
    assert produced == set(CHECK_CODES)


def test_a_warning_carries_its_code_and_its_text() -> None:
    profile = base().retry().telemetry().build_config(env={})  # type: ignore[attr-defined]
    [warning] = check_order(profile, "profiles.default")
    assert warning.code == "telemetry_not_outermost"
    assert CHECK_CODES["telemetry_not_outermost"] in str(warning)
    assert "profiles.default" in str(warning)
