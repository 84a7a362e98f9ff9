"""The rules classifier's fast path (prefix gate, anchored tries, ASCII searches) never
changes a verdict: it answers exactly as trying every rule on every view would."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.safety.defaults import BUILTIN_CATEGORIES
from genguard.safety.normalize import _RUN, _RUN_ASCII, _SPACED, _SPACED_ASCII
from genguard.safety.rules import RulesClassifier, _loosen, _regex_prefixes

CLASSIFIER = RulesClassifier(categories=list(BUILTIN_CATEGORIES))
#: The same rules with the fast path switched off: every rule tried on every view.
SLOW = RulesClassifier(categories=list(BUILTIN_CATEGORIES))
SLOW._may_match = lambda texts: True  # type: ignore[method-assign]


def _every_rule(text: str) -> dict[str, Any]:
    return {c: r.index for c, r in SLOW.match(text).items()}


#: Words the rules are made of, so generated texts hit the gate often.
VOCAB = sorted(
    {
        word
        for rules in BUILTIN_CATEGORIES.values()
        for rule in rules
        for part in ([rule] if isinstance(rule, str) else rule)
        if not part.startswith("re:")
        for word in part.replace("|", " ").replace("&", " ").replace("*", "").split()
        if word.isalpha()
    }
    | {"take", "my", "own", "life", "cut", "off", "his", "arm", "gun", "to", "head", "12", "yo"}
)
SEPARATORS = [" ", "  ", "-", ".", ", ", "_", "\n", "\x1c", " 1 ", "'"]

texts = st.lists(
    st.one_of(st.sampled_from(VOCAB), st.sampled_from(SEPARATORS), st.text(max_size=4)),
    max_size=14,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_the_fast_path_agrees_with_trying_every_rule(text: str) -> None:
    fast = {c: r.index for c, r in CLASSIFIER.match(text).items()}
    assert fast == _every_rule(text)


@pytest.mark.parametrize(
    "text",
    [
        "take my own life",
        "a 12 year old",
        "they cut off his arm",
        "gun to my head",
        "k i l l them all",
        "a  watercolour of a quiet harbour",
        "s3v3red head",
        "nuuude",
    ],
)
def test_known_texts_agree(text: str) -> None:
    assert {c: r.index for c, r in CLASSIFIER.match(text).items()} == _every_rule(text)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_ascii_searches_agree_with_the_unicode_ones(text: str) -> None:
    lowered = text.lower()
    assert bool(_SPACED_ASCII.search(" " + lowered)) == bool(_SPACED.search(lowered))
    assert bool(_RUN_ASCII.search(lowered)) == bool(_RUN.search(lowered))


def test_regex_prefixes_read_the_literal_words_a_match_starts_with() -> None:
    assert _regex_prefixes(r"\b(?:stab|stabs)\s+him") == {"stab"}  # the shared start
    assert _regex_prefixes(r"\b(?:cut|slash)\s+him") == {"cut", "slash"}
    assert _regex_prefixes(r"\bguts\s+out|\bintestines") == {"guts", "intestines"}
    assert _regex_prefixes(r"(?<!\d)1[0-7]\s*yo") is None  # no leading \b
    assert _regex_prefixes(r"\b[a-z]+ing") is None  # no literal prefix
    assert _regex_prefixes(r"(?i)\bgore") is None  # flags: unsure, so not gated


def test_loosen_drops_leading_lookbehinds_only() -> None:
    assert _loosen(r"(?<!\d)(?:[1-9])yo") == r"(?:[1-9])yo"
    assert _loosen(r"(?<=[)(])x") == "x"
    assert _loosen(r"a(?<!b)") == r"a(?<!b)"
    assert _loosen(r"(?<!a)") == r"(?<!a)"  # nothing would be left


def _leet_words_by_every_token(text: str) -> bool:
    from genguard.safety import normalize

    if normalize._LEET_CHARS.isdisjoint(text):
        return False
    return any(
        normalize._is_leet_word(token)
        for token in normalize._TOKEN.findall(text)
        if not normalize._LEET_CHARS.isdisjoint(token)
    )


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(list("ab xyz01345789@$€¢!|_2-.Ⅷ²é")), max_size=30))
def test_the_leet_prefilter_never_changes_the_answer(text: str) -> None:
    from genguard.safety.normalize import _has_leet_word

    assert _has_leet_word(text) == _leet_words_by_every_token(text)
