"""Normalisation and de-obfuscated views of text for the rules classifier."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from genguard.safety.normalize import normalize, views


def test_nfkc_casefold_accents_and_invisible_characters() -> None:
    assert normalize("ＮＵＤＥ") == "nude"  # fullwidth letters
    assert normalize("Straße") == "strasse"  # case folding, not lower()
    assert normalize("nüde café") == "nude cafe"
    assert normalize("n\u200bu\u00add\u200de") == "nude"  # zero-width and soft hyphen
    assert normalize("сhіld") == "child"  # Cyrillic look-alikes


def test_spaced_letters_are_joined_in_a_view() -> None:
    assert "kill" in views("k i l l")
    assert "decapitation" in " ".join(views("d.e.c.a.p.i.t.a.t.i.o.n"))
    # A leading article is kept apart in one of the views.
    assert "a sexy teen" in views("A s e x y teen")


def test_digit_swaps_only_inside_words_with_letters() -> None:
    assert "sexy" in views("s3xy")
    assert "kill" in views("k1ll")  # 1 as i
    assert "lolita" in " ".join(views("1o1ita"))  # 1 as l
    assert "naked" in views("n@ked")
    # Pure numbers are left alone: ages must stay ages.
    assert views("13 year old") == ("13 year old",)
    assert "gore!" in views("gore!")[0]


def test_letter_runs_are_squeezed() -> None:
    assert "nude" in views("nuuuude")
    assert "kill" in views("killllll")


def test_ordinary_prompt_has_one_view() -> None:
    assert views("a watercolor fox in a snowy birch forest") == (
        "a watercolor fox in a snowy birch forest",
    )


@given(st.text(max_size=300))
def test_views_never_fail_and_start_with_the_normal_form(text: str) -> None:
    out = views(text)
    assert out[0] == normalize(text)
    assert len(out) == len(set(out))
    assert all(normalize(view) == view for view in out)


@given(st.text(max_size=200))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
