"""``redact`` skips its key patterns when none of their literals is in the text; the
answer is the same as running every pattern."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.errors import _KEY_PATTERNS, redact


def _every_pattern(text: str) -> str:
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


ALPHABET = list("skKAIzabearerBEARERkey=-_. \u212a\u0130\u0131xyz0123456789")


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=48))
def test_redact_agrees_with_every_pattern(text: str) -> None:
    assert redact(text) == _every_pattern(text)


@given(st.text(max_size=64))
def test_redact_agrees_on_any_text(text: str) -> None:
    assert redact(text) == _every_pattern(text)


def test_keys_are_still_masked() -> None:
    assert redact("Bearer abcdefgh1234") == "Bearer ***"
    assert redact("key=ABCDEFGHIJ&x") == "key=***&x"
    assert redact("KEY=ABCDEFGHIJ") == "KEY=***"
    assert redact("sk-abcdefgh12") == "***"
    assert "AIza" not in redact("AIzaSyA1234567890abcdefghij")
