"""The built-in layers, one module each. Imported lazily: a stack pays only for what it uses."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CircuitBreakerLayer": "circuit_breaker",
    "FallbackLayer": "fallback",
    "FallbackRoute": "fallback",
    "FallbackTarget": "fallback",
    "PromptPolicyLayer": "prompt_policy",
    "Rate": "rate_limit",
    "RateLimitLayer": "rate_limit",
    "RetryBudget": "retry_budget",
    "RetryLayer": "retry",
    "SafetyLayer": "safety",
    "TelemetryLayer": "telemetry",
    "TimeoutLayer": "timeout",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'genguard.layers' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
