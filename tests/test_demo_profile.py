"""The demo stack is the shipped ``sim`` profile, built by the one factory."""

from __future__ import annotations

import yaml

from genguard import profiles
from genguard.demo import default_stack
from genguard.layers.retry import RetryLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer


def _sim_layers() -> dict[str, object]:
    raw = yaml.safe_load(profiles.path(profiles.SIMULATOR).read_text())
    layers = raw["profiles"]["sim"]["layers"]
    return {next(iter(x)): next(iter(x.values())) for x in layers if isinstance(x, dict)}


def test_the_demo_stack_is_the_shipped_sim_profile_without_telemetry() -> None:
    written = _sim_layers()
    stack = default_stack()
    assert not any(isinstance(layer, TelemetryLayer) for layer in stack)
    retry = next(layer for layer in stack if isinstance(layer, RetryLayer))
    timeout = next(layer for layer in stack if isinstance(layer, TimeoutLayer))
    assert retry.attempts == written["retry"]["attempts"]  # type: ignore[index]
    assert timeout.attempt == 5.0 and written["timeout"] == {"attempt": "5s"}
    names = [type(layer).__name__ for layer in stack]
    assert names == [
        "SafetyLayer",
        "RetryLayer",
        "CircuitBreakerLayer",
        "RateLimitLayer",
        "TimeoutLayer",
    ]


def test_a_given_telemetry_layer_goes_first_and_quick_false_is_production_scale() -> None:
    telemetry = TelemetryLayer()
    assert default_stack(telemetry=telemetry)[0] is telemetry
    production = default_stack(quick=False)
    timeout = next(layer for layer in production if isinstance(layer, TimeoutLayer))
    assert timeout.attempt == 150.0  # production.yaml's gemini profile
