"""Order checks: stacks that are valid but defeat themselves get a warning.

Each warning has a code; a profile silences one with ``ignore_checks: [code]``
when the unusual order is deliberate.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from .schema import LAYER_MODELS, ProfileConfig, layer_name

#: Every check, with why the order hurts.
CHECK_CODES: Mapping[str, str] = {
    "telemetry_not_outermost": (
        "telemetry is not the first layer, so spans and metrics miss what the outer "
        "layers do (blocked prompts, retries, total time)"
    ),
    "rate_limit_outside_retry": (
        "rate_limit is outside retry, so retries bypass the limiter; put it after retry "
        "so every attempt pays for a permit"
    ),
    "circuit_breaker_outside_retry": (
        "circuit_breaker is outside retry, so it counts whole calls, not attempts, and "
        "retries keep hitting a failing provider; put it after retry"
    ),
    "timeout_outside_retry": (
        "timeout is outside retry, so it bounds all attempts together; use deadline for "
        "that and put timeout after retry"
    ),
    "timeout_outside_rate_limit": (
        "timeout is outside rate_limit, so time waiting for a permit counts against the "
        "attempt; put timeout after rate_limit"
    ),
    "retry_without_deadline": (
        "retry has no deadline: with server hints and backoff a call can take minutes; "
        "set the profile's deadline"
    ),
    "safety_inside_retry": (
        "safety is inside retry, so the prompt is classified again on every attempt; "
        "put safety before retry"
    ),
    "fallback_inside_retry": (
        "fallback is inside retry, so every retry walks the whole fallback chain; "
        "put fallback before retry"
    ),
    "budget_outside_retry": (
        "budget is outside retry, so one reservation covers every attempt and retried "
        "attempts can overspend it; put budget after retry"
    ),
    "budget_after_rate_limit": (
        "budget comes after rate_limit or circuit_breaker, so a call the budget refuses "
        "has already taken a permit; put budget right after retry"
    ),
    "duplicate_layer": "the same built-in layer appears twice; its effect multiplies",
}


class StackOrderWarning(UserWarning):
    """Python warning category used when a client is built from a self-defeating stack."""


class ConfigWarning(ConfigError):
    """A valid config that probably does not do what was meant. ``code`` names the check."""

    level = "warning"

    def __init__(self, path: str, message: str, *, code: str) -> None:
        super().__init__(path, f"{message} [{code}]")
        self.code = code


def check_order(profile: ProfileConfig, path: str) -> list[ConfigWarning]:
    """Warnings for ``profile`` (at ``path``, e.g. ``profiles.prod``), minus ignored codes."""
    names = [layer_name(layer) for layer in profile.layers]
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        first.setdefault(name, index)
    found: list[ConfigWarning] = []

    def warn(code: str, index: int | None) -> None:
        where = f"{path}.layers" if index is None else f"{path}.layers[{index}]"
        found.append(ConfigWarning(where, CHECK_CODES[code], code=code))

    if "telemetry" in first and first["telemetry"] != 0:
        warn("telemetry_not_outermost", first["telemetry"])
    retry = first.get("retry")
    if retry is not None:
        for name in ("rate_limit", "circuit_breaker", "timeout"):
            if name in first and first[name] < retry:
                warn(f"{name}_outside_retry", first[name])
        for name in ("safety", "fallback"):
            if name in first and first[name] > retry:
                warn(f"{name}_inside_retry", first[name])
        if profile.deadline is None:
            found.append(
                ConfigWarning(
                    f"{path}.deadline",
                    CHECK_CODES["retry_without_deadline"],
                    code="retry_without_deadline",
                )
            )
    budget = first.get("budget")
    if budget is not None:
        if retry is not None and budget < retry:
            warn("budget_outside_retry", budget)
        if any(
            name in first and first[name] < budget for name in ("rate_limit", "circuit_breaker")
        ):
            warn("budget_after_rate_limit", budget)
    if "timeout" in first and "rate_limit" in first and first["timeout"] < first["rate_limit"]:
        warn("timeout_outside_rate_limit", first["timeout"])
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen and name in LAYER_MODELS:
            warn("duplicate_layer", index)
        seen.add(name)
    return [w for w in found if w.code not in profile.ignore_checks]


__all__ = ["CHECK_CODES", "ConfigWarning", "StackOrderWarning", "check_order"]
