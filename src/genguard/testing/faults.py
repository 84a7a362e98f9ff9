"""The fault catalogue a stack is checked against, each fault with what passing means.

Durations are short (a 3 s outage, 2 s stalls) so a whole check runs in well under a
minute; the thresholds are what a production stack should reach on each fault with
nothing tuned for it. Users pass their own :class:`Fault` tuples for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    """One simulator fault profile and the bar a stack must clear under it."""

    name: str
    profile: str
    description: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Fraction of calls that must succeed (blocked prompts excluded under ``blocks``).
    min_success: float = 0.95
    #: Upstream requests per call, at most.
    max_amplification: float = 1.5
    #: Whether the provider blocks prompts under this fault (then blocks are not failures).
    blocks: bool = False


DEFAULT_FAULTS: tuple[Fault, ...] = (
    Fault("clean", "clean", "every request succeeds", min_success=1.0, max_amplification=1.0),
    Fault(
        "flaky",
        "flaky",
        "30% of responses are 503s or 429s with short hints",
        MappingProxyType({"failure_rate": 0.3, "max_hint": 1.0}),
        min_success=0.95,
        max_amplification=1.6,
    ),
    Fault(
        "ratelimit",
        "ratelimit",
        "the server allows 20 requests/s (3 deep) and answers 429 with hints past it",
        MappingProxyType({"rate": 20.0, "burst": 3}),
        min_success=0.95,
        max_amplification=1.6,
    ),
    Fault(
        "httpdate",
        "httpdate",
        "30% of responses are 429/503 with Retry-After as an HTTP-date",
        MappingProxyType({"failure_rate": 0.3, "delay": 1.0}),
        min_success=0.9,
        max_amplification=1.6,
    ),
    Fault(
        "outage",
        "outage",
        "every request fails with 503 for the first 3 s",
        MappingProxyType({"duration": 3.0}),
        min_success=0.9,
        max_amplification=3.0,
    ),
    Fault(
        "slow",
        "slow",
        "20% of responses stall 2 s after the headers",
        MappingProxyType({"fraction": 0.2, "delay": 2.0}),
        min_success=0.95,
        max_amplification=1.15,
    ),
    Fault(
        "safety",
        "safety",
        "the provider blocks 30% of prompts (never worth a retry)",
        MappingProxyType({"fraction": 0.3}),
        min_success=1.0,
        max_amplification=1.0,
        blocks=True,
    ),
)


def select_faults(
    names: str | None, catalogue: tuple[Fault, ...] = DEFAULT_FAULTS
) -> tuple[Fault, ...]:
    """The faults named in a comma-separated list (all of them for None)."""
    if not names:
        return catalogue
    by_name = {f.name: f for f in catalogue}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return tuple(by_name[n] for n in wanted)


__all__ = ["DEFAULT_FAULTS", "Fault", "select_faults"]
