"""Classifiers composed into one decision, with per-category thresholds and actions.

Classifiers run in order and the chain stops at the first block, so a cheap local
classifier placed first saves a paid remote call on the prompts it already refuses.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import ClassifierUnavailable, ConfigError, GenGuardError, Stage
from ..model import GenerationRequest
from .categories import CATEGORIES
from .verdict import SafetyClassifier, Verdict

Action = Literal["block", "warn"]
Outcome = Literal["allow", "warn", "block"]
ACTIONS: tuple[Action, ...] = ("block", "warn")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the chain made of one classifier's verdict.

    ``categories`` holds only the categories over their line (threshold, or the
    classifier's own judgement), with their scores; ``category`` is the one that
    decided the action (the highest-scoring category with that action).
    """

    classifier: str
    verdict: Verdict
    action: Outcome
    categories: Mapping[str, float]
    category: str | None


@dataclass(frozen=True, slots=True)
class ChainResult:
    """Every decision made, in order; ``blocked`` is the first block, if any."""

    decisions: tuple[Decision, ...]

    @property
    def blocked(self) -> Decision | None:
        for decision in self.decisions:
            if decision.action == "block":
                return decision
        return None

    @property
    def allowed(self) -> bool:
        return self.blocked is None


def classifier_name(classifier: object) -> str:
    name = getattr(classifier, "name", None)
    return name if isinstance(name, str) and name else type(classifier).__name__


class ClassifierChain:
    """Runs ``classifiers`` in order and applies ``thresholds`` and ``actions`` per category.

    A category is over the line when its score reaches ``thresholds[category]``;
    without a threshold, the classifier's own judgement (``Verdict.flagged``) decides.
    Its action is ``actions[category]``, else ``default_action`` (``block``):
    ``block`` stops the call, ``warn`` reports it and lets it through.

    A classifier that raises anything but a genguard error is treated as
    unavailable (``ClassifierUnavailable``): a bug in a plug-in must not let content
    through silently, nor surface as a bare ``KeyError``.
    """

    def __init__(
        self,
        classifiers: Sequence[SafetyClassifier],
        thresholds: Mapping[str, float] | None = None,
        actions: Mapping[str, str] | None = None,
        *,
        default_action: str = "block",
    ) -> None:
        self.classifiers = tuple(classifiers)
        if not self.classifiers:
            raise ConfigError("classifiers", "a classifier chain needs at least one classifier")
        for index, classifier in enumerate(self.classifiers):
            if not callable(getattr(classifier, "classify", None)):
                raise ConfigError(
                    f"classifiers[{index}]",
                    f"{type(classifier).__name__} has no classify(request) method",
                )
        known = _known_categories(self.classifiers)
        self.thresholds: dict[str, float] = {}
        for category, value in (thresholds or {}).items():
            _check_category(category, known, "thresholds")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not 0.0 <= value <= 1.0
            ):
                raise ConfigError(
                    f"thresholds.{category}", f"must be a number in [0, 1], got {value!r}"
                )
            self.thresholds[category] = float(value)
        self.actions: dict[str, Action] = {}
        for category, action in (actions or {}).items():
            _check_category(category, known, "actions")
            self.actions[category] = _check_action(action, f"actions.{category}")
        self.default_action: Action = _check_action(default_action, "default_action")
        #: The last allow decision of each classifier (immutable, shared by the calls).
        self._allowed: dict[str, Decision] = {}
        self._allowed_result: ChainResult | None = None

    async def evaluate(self, request: GenerationRequest, *, stage: Stage = "input") -> ChainResult:
        """Judge ``request`` with each classifier until one blocks."""
        decisions: list[Decision] = []
        for classifier in self.classifiers:
            name = classifier_name(classifier)
            try:
                verdict = await classifier.classify(request)
            except GenGuardError:
                raise
            except Exception as exc:
                raise ClassifierUnavailable(
                    f"safety classifier {name!r} failed ({type(exc).__name__})",
                    classifier=name,
                    stage=stage,
                ) from exc
            if not isinstance(verdict, Verdict):
                raise ClassifierUnavailable(
                    f"safety classifier {name!r} returned {type(verdict).__name__}, not a Verdict",
                    classifier=name,
                    stage=stage,
                )
            decision = self.decide(name, verdict)
            decisions.append(decision)
            if decision.action == "block":
                break
        if len(decisions) == 1 and self._allowed.get(decisions[0].classifier) is decisions[0]:
            # One classifier, its shared allow decision: the result is shared as well.
            shared = self._allowed_result
            if shared is None or shared.decisions[0] is not decisions[0]:
                shared = self._allowed_result = ChainResult((decisions[0],))
            return shared
        return ChainResult(tuple(decisions))

    def decide(self, name: str, verdict: Verdict) -> Decision:
        """Apply thresholds and actions to one verdict."""
        if verdict.allowed and not verdict.flagged and not self.thresholds:
            # Nothing can be over a line. A classifier that returns the same allow verdict
            # each time (the rules classifier) gets the same decision back.
            allowed = self._allowed.get(name)
            if allowed is None or allowed.verdict is not verdict:
                allowed = self._allowed[name] = Decision(name, verdict, "allow", {}, None)
            return allowed
        over = verdict.own_flags()
        for category, threshold in self.thresholds.items():
            score = verdict.categories.get(category)
            if score is None:
                continue
            if score >= threshold:
                over[category] = float(score)
            else:
                over.pop(category, None)
        if not over:
            return Decision(name, verdict, "allow", {}, None)
        by_action: dict[Action, list[str]] = {"block": [], "warn": []}
        for category in over:
            by_action[self.actions.get(category, self.default_action)].append(category)
        action: Action = "block" if by_action["block"] else "warn"
        deciding = max(by_action[action], key=lambda c: (over[c], -_rank(c)))
        return Decision(name, verdict, action, over, deciding)

    def __repr__(self) -> str:
        names = ", ".join(classifier_name(c) for c in self.classifiers)
        return (
            f"ClassifierChain([{names}], thresholds={self.thresholds}, actions={self.actions}, "
            f"default_action={self.default_action!r})"
        )


def _rank(category: str) -> int:
    """Order of ``category`` in the uniform list, so ties pick the same category every time."""
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def _known_categories(classifiers: Iterable[object]) -> set[str]:
    """Uniform categories plus any a classifier declares in a ``categories`` attribute."""
    known = set(CATEGORIES)
    for classifier in classifiers:
        declared = getattr(classifier, "categories", None)
        if isinstance(declared, Mapping | Collection) and not isinstance(declared, str):
            known.update(str(c) for c in declared)
    return known


def _check_category(category: object, known: set[str], where: str) -> None:
    if not isinstance(category, str) or category not in known:
        raise ConfigError(
            f"{where}.{category}",
            f"unknown category; expected one of {', '.join(sorted(known))}",
        )


def _check_action(action: object, path: str) -> Action:
    if action not in ACTIONS:
        raise ConfigError(path, f"action must be 'block' or 'warn', got {action!r}")
    return action


__all__ = ["ACTIONS", "Action", "ChainResult", "ClassifierChain", "Decision", "Outcome"]
