"""The rules classifier: pattern syntax, defaults, allowlist, files, and robustness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.errors import ConfigError
from genguard.model import GenerationRequest
from genguard.safety.defaults import DEFAULT_CATEGORY_NAMES
from genguard.safety.rules import RulesClassifier, compile_part, compile_rule

DEFAULT = RulesClassifier()


def flagged(text: str, classifier: RulesClassifier = DEFAULT) -> set[str]:
    return set(classifier.match(text))


def test_defaults_cover_the_four_image_generation_categories() -> None:
    assert set(DEFAULT.categories) == set(DEFAULT_CATEGORY_NAMES)
    assert set(DEFAULT_CATEGORY_NAMES) == {"sexual_minors", "violence", "self_harm", "hate"}
    assert flagged("a decapitated soldier") == {"violence"}
    assert flagged("a nude child") == {"sexual_minors"}
    assert flagged("a girl with slit wrists") == {"self_harm"}
    assert flagged("propaganda showing muslims as subhuman") == {"hate"}


@pytest.mark.parametrize(
    "prompt",
    [
        "shoot a photo of the bride",
        "a killer app launch poster",
        "headshot of a CEO",
        "blood orange sorbet",
        "kids playing soccer",
        "a sexy red sports car",
        "suicide squad fan art",
        "Al Gore at a podium",
        "a minor league baseball game",
    ],
)
def test_benign_prompts_sharing_words_pass(prompt: str) -> None:
    assert flagged(prompt) == set()


def test_word_boundaries() -> None:
    rules = RulesClassifier({"x": ["gore"]})
    assert flagged("gore on the floor", rules) == {"x"}
    assert flagged("gorey", rules) == set()  # not a prefix rule
    assert flagged("gorgeous", rules) == set()
    assert flagged("a gore-soaked floor", rules) == {"x"}


def test_prefix_wildcard_and_one_word_wildcard() -> None:
    rules = RulesClassifier({"x": ["decapitat*", "slit * wrists"]})
    assert flagged("decapitation", rules) == {"x"}
    assert flagged("decapitated", rules) == {"x"}
    assert flagged("slit her wrists", rules) == {"x"}
    assert flagged("slit wrists", rules) == set()  # '*' is exactly one word
    assert flagged("slit the two wrists", rules) == set()


def test_phrase_matches_across_separators_and_joined() -> None:
    rules = RulesClassifier({"x": ["self harm"]})
    for text in ("self harm", "self-harm", "selfharm", "self_harm", "SELF  HARM"):
        assert flagged(text, rules) == {"x"}, text


def test_conjunction_needs_every_part() -> None:
    rules = RulesClassifier({"x": ["child|kid & nude|naked"], "y": [["teen", "lingerie"]]})
    assert flagged("a naked kid", rules) == {"x"}
    assert flagged("a kid at the beach", rules) == set()
    assert flagged("a naked mole rat", rules) == set()
    assert flagged("teen in lingerie", rules) == {"y"}


def test_raw_regex_rule() -> None:
    rules = RulesClassifier({"x": [r"re:\b1[0-7]\s*yo\b"]})
    assert flagged("a 13yo", rules) == {"x"}
    assert flagged("a 19yo", rules) == set()


def test_obfuscation_is_undone() -> None:
    for text in ("d e c a p i t a t e d", "g0ry", "ＧＯＲＥ", "gоre", "g\u200bore", "goooore"):
        assert "violence" in flagged(text), text
    assert "sexual_minors" in flagged("s3xy k1d")
    assert "sexual_minors" in flagged("n.u.d.e child")


def test_allowlist_masks_phrases_before_matching() -> None:
    rules = RulesClassifier({"x": ["suicide"]}, allowlist=["suicide squad"])
    assert flagged("suicide squad poster", rules) == set()
    assert flagged("suicide squad poster, a suicide scene", rules) == {"x"}
    assert flagged("s u i c i d e squad", rules) == set()  # allowlist applies to views too


def test_default_allowlist_only_with_builtin_sets() -> None:
    custom = RulesClassifier({"x": ["suicide"]})
    assert flagged("suicide squad", custom) == {"x"}
    builtin = RulesClassifier(["self_harm"])
    assert flagged("suicide squad", builtin) == set()
    assert flagged("suicide note", builtin) == {"self_harm"}


def test_builtin_sexual_set_is_opt_in() -> None:
    assert flagged("explicit porn scene") == set()
    with_sexual = RulesClassifier([*DEFAULT_CATEGORY_NAMES, "sexual"])
    assert flagged("explicit porn scene", with_sexual) == {"sexual"}


def test_include_defaults_merges_custom_rules() -> None:
    rules = RulesClassifier({"brand": ["acme"]}, include_defaults=True)
    assert flagged("acme logo", rules) == {"brand"}
    assert flagged("a decapitated soldier", rules) == {"violence"}
    only = RulesClassifier({"brand": ["acme"]})
    assert flagged("a decapitated soldier", only) == set()


def test_rules_file_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "rules.yaml"
    yml.write_text("categories:\n  brand: [acme, 'globex & logo']\nallowlist: [acme corner]\n")
    rules = RulesClassifier(file=yml)
    assert set(rules.categories) == {"brand"}
    assert flagged("acme rockets", rules) == {"brand"}
    assert flagged("acme corner shop", rules) == set()
    assert flagged("globex logo", rules) == {"brand"}
    js = tmp_path / "rules.json"
    js.write_text(json.dumps({"categories": {"hate": [["foo", "bar"]]}}))
    assert flagged("bar and foo", RulesClassifier(file=js)) == {"hate"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- just a list", "mapping"),
        ("categories: [a]", "mapping"),
        ("categories: {x: [a]}\nextra: 1", "unknown keys"),
        ("allowlist: [1, 2]", "list of strings"),
        ("categories: {x: [[]]}", "non-empty list"),
        ("categories: {x: ['*oops']}", "'*'"),
        ("categories: {x: ['re:(']}", "invalid regular expression"),
        ("categories: {x: [' ... ']}", "no letters"),
        ("categories: {x: [a]\n  bad", "not valid"),
    ],
)
def test_bad_rules_files_raise_config_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        RulesClassifier(file=path)


def test_missing_file_and_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        RulesClassifier(file="does/not/exist.yaml")
    with pytest.raises(ConfigError, match="no built-in rule set"):
        RulesClassifier(["violence", "nonsense"])
    with pytest.raises(ConfigError, match="list of rules"):
        RulesClassifier({"x": "gore"})
    with pytest.raises(ConfigError, match="one string"):
        RulesClassifier(allowlist="gore")
    with pytest.raises(ConfigError, match="no rules"):
        RulesClassifier({})


async def test_classify_returns_a_verdict_with_category_and_reason() -> None:
    verdict = await DEFAULT.classify(GenerationRequest(prompt="a decapitated soldier, gory"))
    assert not verdict.allowed
    assert verdict.categories == {"violence": 1.0}
    assert verdict.flagged == ("violence",)
    assert verdict.classifier == "rules"
    assert verdict.reason is not None and verdict.reason.startswith("violence rule #")
    assert "soldier" not in verdict.reason  # the reason names the rule, not the prompt
    ok = await DEFAULT.classify(GenerationRequest(prompt="a corgi in sunglasses"))
    assert ok.allowed and ok.categories == {} and ok.reason is None


def test_repr_is_short() -> None:
    assert repr(DEFAULT).startswith("RulesClassifier(name='rules', rules={sexual_minors: ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_classified_without_error(text: str) -> None:
    assert isinstance(DEFAULT.match(text), dict)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_pattern_compiles_or_raises_config_error(pattern: str) -> None:
    try:
        compiled = compile_part(pattern, "p")
    except ConfigError:
        return
    compiled.search("some text to search")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc xyz*|&", min_size=1, max_size=20), min_size=1, max_size=3))
def test_any_rule_list_compiles_or_raises_config_error(parts: list[str]) -> None:
    try:
        rule = compile_rule("x", 0, parts, "p")
    except ConfigError:
        return
    assert len(rule.parts) == len(parts)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z]{3,10}( [a-z]{3,10}){0,2}", fullmatch=True))
def test_a_literal_phrase_always_matches_itself(phrase: str) -> None:
    rules = RulesClassifier({"x": [phrase]})
    assert flagged(f"before {phrase.upper()} after", rules) == {"x"}
