"""Order checks: self-defeating stacks warn, with codes that can be silenced."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda b: b.retry().telemetry(), ["telemetry_not_outermost"]),
        (lambda b: b.rate_limit(concurrency=2).retry(), ["rate_limit_outside_retry"]),
        (lambda b: b.circuit_breaker().retry(), ["circuit_breaker_outside_retry"]),
        (lambda b: b.timeout("1s").retry(), ["timeout_outside_retry"]),
        (lambda b: b.timeout("1s").rate_limit(requests="1/s"), ["timeout_outside_rate_limit"]),
        (lambda b: b.retry().safety(), ["safety_inside_retry"]),
        (lambda b: b.retry().fallback("x"), ["fallback_inside_retry"]),
        (lambda b: b.retry().retry(), ["duplicate_layer"]),
    ],
)
def test_each_check(build: object, expected: list[str]) -> None:
    assert codes(build(base())) == expected  # type: ignore[operator]


def test_retry_without_deadline_and_ignore() -> None:
    assert codes(Pipeline.builder().provider("sim").retry()) == ["retry_without_deadline"]
    quiet = Pipeline.builder().provider("sim").retry().ignore_checks("retry_without_deadline")
    assert codes(quiet) == []


def test_every_code_is_documented() -> None:
    assert all(len(why) > 30 for why in CHECK_CODES.values())
