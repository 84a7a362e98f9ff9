"""Classifier chains: thresholds, actions, order, short-circuit and plug-in failures."""

from __future__ import annotations

import pytest

from genguard.errors import ClassifierUnavailable, ConfigError, ContentBlocked
from genguard.model import GenerationRequest
from genguard.safety import ClassifierChain, Verdict

REQ = GenerationRequest(prompt="anything")


class Fixed:
    def __init__(self, verdict: Verdict, name: str = "fixed") -> None:
        self.verdict = verdict
        self.name = name
        self.calls = 0

    async def classify(self, request: GenerationRequest) -> Verdict:
        self.calls += 1
        return self.verdict


def scored(scores: dict[str, float], flagged: tuple[str, ...] = (), allowed: bool = True) -> Fixed:
    return Fixed(Verdict(allowed=allowed, categories=scores, flagged=flagged, classifier="m"))


async def test_classifier_judgement_decides_without_thresholds() -> None:
    chain = ClassifierChain([scored({"violence": 0.9, "hate": 0.2}, ("violence",), False)])
    result = await chain.evaluate(REQ)
    blocked = result.blocked
    assert blocked is not None and blocked.category == "violence"
    assert blocked.categories == {"violence": 0.9}
    allowed = await ClassifierChain([scored({"violence": 0.9})]).evaluate(REQ)
    assert allowed.allowed and allowed.decisions[0].action == "allow"


async def test_threshold_loosens_and_tightens() -> None:
    flagged_high = scored({"violence": 0.6, "hate": 0.3}, ("violence",), False)
    loose = ClassifierChain([flagged_high], thresholds={"violence": 0.8})
    assert (await loose.evaluate(REQ)).allowed
    strict = ClassifierChain([flagged_high], thresholds={"hate": 0.25})
    result = await strict.evaluate(REQ)
    assert result.blocked is not None
    assert dict(result.blocked.categories) == {"violence": 0.6, "hate": 0.3}
    assert result.blocked.category == "violence"  # highest score decides


async def test_a_score_exactly_at_the_threshold_is_over_the_line() -> None:
    """ "Over the line when its score *reaches* the threshold" (ClassifierChain's contract)."""
    at = ClassifierChain([scored({"violence": 0.5})], thresholds={"violence": 0.5})
    result = await at.evaluate(REQ)
    assert result.blocked is not None and result.blocked.category == "violence"
    below = ClassifierChain([scored({"violence": 0.4999})], thresholds={"violence": 0.5})
    assert (await below.evaluate(REQ)).allowed


async def test_warn_action_lets_through_and_block_wins_over_warn() -> None:
    verdict = scored({"violence": 1.0, "hate": 1.0}, ("violence", "hate"), False)
    warn_all = ClassifierChain([verdict], default_action="warn")
    result = await warn_all.evaluate(REQ)
    assert result.allowed and result.decisions[0].action == "warn"
    mixed = ClassifierChain([verdict], actions={"violence": "warn"})
    result = await mixed.evaluate(REQ)
    assert result.blocked is not None and result.blocked.category == "hate"


async def test_not_allowed_without_categories_is_unspecified() -> None:
    result = await ClassifierChain([Fixed(Verdict(allowed=False))]).evaluate(REQ)
    assert result.blocked is not None and result.blocked.category == "unspecified"


async def test_chain_stops_at_the_first_block() -> None:
    first = scored({"hate": 1.0}, ("hate",), False)
    second = scored({})
    result = await ClassifierChain([first, second]).evaluate(REQ)
    assert first.calls == 1 and second.calls == 0 and len(result.decisions) == 1
    first_ok = scored({})
    await ClassifierChain([first_ok, second]).evaluate(REQ)
    assert second.calls == 1


async def test_plugin_bugs_become_classifier_unavailable() -> None:
    class Broken:
        name = "broken"

        async def classify(self, request: GenerationRequest) -> Verdict:
            raise KeyError("oops")

    with pytest.raises(ClassifierUnavailable) as info:
        await ClassifierChain([Broken()]).evaluate(REQ, stage="output")
    assert info.value.classifier == "broken" and info.value.stage == "output"
    assert info.value.retryable

    class Wrong:
        async def classify(self, request: GenerationRequest) -> object:
            return {"allowed": False}

    with pytest.raises(ClassifierUnavailable, match="not a Verdict"):
        await ClassifierChain([Wrong()]).evaluate(REQ)  # type: ignore[list-item]


async def test_genguard_errors_from_classifiers_pass_through() -> None:
    class Raises:
        name = "r"

        async def classify(self, request: GenerationRequest) -> Verdict:
            raise ContentBlocked("x", stage="input", category="hate", source="classifier")

    with pytest.raises(ContentBlocked):
        await ClassifierChain([Raises()]).evaluate(REQ)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"thresholds": {"violance": 0.5}}, "thresholds.violance"),
        ({"thresholds": {"violence": 1.5}}, "thresholds.violence"),
        ({"thresholds": {"violence": True}}, "thresholds.violence"),
        ({"actions": {"violence": "drop"}}, "actions.violence"),
        ({"default_action": "allow"}, "default_action"),
    ],
)
def test_bad_chain_config(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        ClassifierChain([scored({})], **kwargs)  # type: ignore[arg-type]
    assert info.value.path == path


def test_chain_needs_classifiers_with_classify() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        ClassifierChain([])
    with pytest.raises(ConfigError, match="no classify"):
        ClassifierChain([object()])  # type: ignore[list-item]


def test_custom_categories_declared_by_a_classifier_are_configurable() -> None:
    from genguard.safety import RulesClassifier

    rules = RulesClassifier({"brand": ["acme"]})
    chain = ClassifierChain([rules], thresholds={"brand": 1.0}, actions={"brand": "warn"})
    assert chain.actions == {"brand": "warn"}


def test_verdict_validation() -> None:
    with pytest.raises(ValueError):
        Verdict(allowed=True, categories={"violence": 2.0})
    with pytest.raises(ValueError):
        Verdict(allowed=True, categories={"violence": float("nan")})
    with pytest.raises(TypeError):
        Verdict(allowed="no")  # type: ignore[arg-type]
