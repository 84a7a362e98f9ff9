"""What a classifier says about a piece of content, and the protocol every classifier follows.

A classifier only judges; it never raises ``ContentBlocked`` itself. The
``ClassifierChain`` turns verdicts into actions with the deployment's own
thresholds, so one classifier can be strict in one stack and lenient in another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..model import GenerationRequest
from .categories import UNSPECIFIED

#: Score at which a category counts as flagged when a classifier says "not allowed"
#: but names no flagged category itself.
DEFAULT_FLAG_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class Verdict:
    """One classifier's judgement.

    ``categories`` maps uniform category names (``genguard.safety.categories``) to
    scores in [0, 1]. ``flagged`` names the categories the classifier itself judged
    over its line (e.g. the moderation API's ``categories`` booleans); a chain
    threshold for a category overrides that judgement. ``error`` is set when the
    classifier could not judge and let the content through (fail open).
    """

    allowed: bool
    categories: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None
    classifier: str = ""
    flagged: tuple[str, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.allowed, bool):
            raise TypeError(f"Verdict.allowed must be a bool, got {type(self.allowed).__name__}")
        for name, score in self.categories.items():
            if not isinstance(name, str):
                raise TypeError(f"Verdict category names must be strings, got {name!r}")
            if (
                isinstance(score, bool)
                or not isinstance(score, int | float)
                or not math.isfinite(score)
                or not 0.0 <= score <= 1.0
            ):
                raise ValueError(f"Verdict score for {name!r} must be in [0, 1], got {score!r}")

    def own_flags(self) -> dict[str, float]:
        """The categories this classifier judged over its own line, with their scores.

        A "not allowed" verdict that names no category flags every category scoring
        at least ``DEFAULT_FLAG_SCORE``, or ``unspecified`` if none does, so a block
        never loses its category on the way to ``ContentBlocked``.
        """
        flags = {name: float(self.categories.get(name, 1.0)) for name in self.flagged}
        if flags or self.allowed:
            return flags
        flags = {n: float(s) for n, s in self.categories.items() if s >= DEFAULT_FLAG_SCORE}
        return flags or {UNSPECIFIED: 1.0}

    @classmethod
    def allow(cls, classifier: str, *, reason: str | None = None) -> Verdict:
        return cls(allowed=True, classifier=classifier, reason=reason)


@runtime_checkable
class SafetyClassifier(Protocol):
    """Judges a request. ``name`` labels its verdicts in telemetry and errors.

    For output checks the layer passes a request whose ``prompt`` is the text the
    provider returned, so one classifier serves both stages.
    """

    name: str

    async def classify(self, request: GenerationRequest) -> Verdict: ...


__all__ = ["DEFAULT_FLAG_SCORE", "SafetyClassifier", "Verdict"]
