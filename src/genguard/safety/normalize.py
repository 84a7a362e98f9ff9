"""Text normalisation for pattern matching: one canonical form, plus de-obfuscated views.

Word lists are easy to dodge with look-alike characters, accents, zero-width
characters, s.p.a.c.e.d letters or digit-for-letter swaps. Rather than make
every pattern handle that, the text is reduced to a canonical form and a few
*views* (each undoing one trick); a pattern matches if it matches any view.
Each view is a full string, so word boundaries still hold in it.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import filterfalse

#: Look-alike letters from other scripts that NFKC keeps apart from Latin ones.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k",
        "τ": "t", "ρ": "p", "ε": "e", "υ": "u", "χ": "x",
    }
)  # fmt: skip

#: Digit and symbol swaps ("s3x", "k1ll", "n@ked"). "1" reads as i or l, so it has two views.
_LEET_BASE = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
              "@": "a", "$": "s", "€": "e", "¢": "c"}  # fmt: skip
_LEET_I = str.maketrans({**_LEET_BASE, "1": "i", "!": "i", "|": "l"})
_LEET_L = str.maketrans({**_LEET_BASE, "1": "l", "!": "i", "|": "l"})
_LEET_CHARS = frozenset("01345789@$€¢!|")

#: A token that may hide letters behind digits or symbols. "!" and "|" count only
#: inside a word, so "gore!" stays "gore" rather than becoming "gorei".
_TOKEN = re.compile(r"[\w@$€¢]+(?:[!|][\w@$€¢]+)*")
#: Three or more single characters split by separators: "k i l l", "s.e.x", "n-u-d-e".
_SPACED = re.compile(r"(?<!\w)\w(?:[\s.\-_*·,/+~'\"]{1,3}\w){2,}(?!\w)")
_SEPARATORS = re.compile(r"[^\w]+")
#: Runs of three or more of the same letter ("nuuude", "sexxxy").
_RUN = re.compile(r"([^\W\d_])\1{2,}")
#: The same two searches for ASCII text, where ``\w`` and letters are plain ASCII
#: classes (``\s`` spelled out as Unicode has it for ASCII), which the engine tests
#: faster. ``_SPACED_ASCII`` runs on the text behind one space: opening on a character
#: class instead of a lookbehind lets the engine skip ahead to the non-word characters.
_SPACED_ASCII = re.compile(
    _SPACED.pattern.replace("\\s", " \\t\\n\\r\\f\\v\\x1c-\\x1f").replace("(?<!\\w)", "[^\\w]", 1),
    re.ASCII,
)
_RUN_ASCII = re.compile(r"([a-zA-Z])\1\1")


def normalize(text: str) -> str:
    """NFKC, invisible characters dropped, case-folded, accents stripped, look-alikes mapped."""
    if text.isascii():
        # ASCII has no invisible, combining or look-alike characters and NFKC leaves it be.
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFC", text)
    return text.translate(_HOMOGLYPHS)


def _despace(text: str, *, keep_article: bool) -> str:
    def join(match: re.Match[str]) -> str:
        run = match.group()
        letters = _SEPARATORS.sub("", run)
        # "a s e x y" is most likely "a sexy": keep a leading article apart.
        if keep_article and letters[0] in "ai" and run[1].isspace() and len(letters) > 3:
            return letters[0] + " " + letters[1:]
        return letters

    return _SPACED.sub(join, text)


def _deleet(text: str, table: dict[int, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        token = match.group()
        if _is_leet_word(token):
            return token.translate(table)
        return token

    return _TOKEN.sub(swap, text)


#: A swappable character, then a letter later in the same run of word characters. A word
#: ``_is_leet_word`` accepts has a letter and a swappable character in one run, in one
#: order or the other: this finds the first order, and the same search on the reversed
#: text the second. Opening on the swappable characters lets the engine skip to them.
_MIXED = re.compile(r"[01345789@$€¢!|][\w@$€¢!|]*?[^\W\d_]")


def _is_leet_word(token: str) -> bool:
    """A word that hides letters behind digits or symbols: "k1ll", "n4z1", not "v123" or "2024".

    At least as many letters as swapped characters, so version numbers and codes
    ("v123", "a4") stay as they are.
    """
    swapped = sum(map(_LEET_CHARS.__contains__, token))
    return swapped > 0 and sum(map(str.isalpha, token)) >= max(swapped, 2)


def _has_leet_word(text: str) -> bool:
    """Whether any word needs its digit-for-letter swaps undone (most prompts: none)."""
    if _LEET_CHARS.isdisjoint(text):
        return False
    if not (_MIXED.search(text) or _MIXED.search(text[::-1])):  # "take 2024": no mixed run
        return False
    # Only the words with a swappable character are looked at (picked out in C).
    return any(map(_is_leet_word, filterfalse(_LEET_CHARS.isdisjoint, _TOKEN.findall(text))))


def views(text: str) -> tuple[str, ...]:
    """The normalised text and each de-obfuscated variant of it, without duplicates.

    Most prompts have no spaced letters, digits inside words or letter runs, and
    get exactly one view.
    """
    base = normalize(text)
    return views_of(base, spaced_letters(base))


def spaced_letters(base: str) -> bool:
    """Whether normalised ``base`` has s.p.a.c.e.d letters (three or more single characters)."""
    if base.isascii():
        return _SPACED_ASCII.search(" " + base) is not None
    return _SPACED.search(base) is not None


#: ``_SPACED_ASCII``'s body, for a caller that folds the spaced-letters search into a
#: scan of its own over ``" " + text`` (the search opens on the character class ``[^\w]``).
SPACED_ASCII_BODY = _SPACED_ASCII.pattern[len("[^\\w]") :]


def plain_ascii(base: str) -> bool:
    """Whether normalised ``base`` is ASCII without letter runs or digit-for-letter swaps:
    then its views are ``(base,)`` unless it has spaced letters (``SPACED_ASCII_BODY``)."""
    return base.isascii() and _RUN_ASCII.search(base) is None and not _has_leet_word(base)


def views_of(base: str, spaced: bool) -> tuple[str, ...]:
    """``views`` of text already normalised to ``base``; ``spaced``: it has spaced letters."""
    out: dict[str, None] = {base: None}
    ascii_text = base.isascii()
    if spaced:
        out[_despace(base, keep_article=False)] = None
        out[_despace(base, keep_article=True)] = None
    if (_RUN_ASCII if ascii_text else _RUN).search(base):
        for view in list(out):
            out[_RUN.sub(r"\1", view)] = None
            out[_RUN.sub(r"\1\1", view)] = None
    if _has_leet_word(base):
        for view in list(out):
            out[_deleet(view, _LEET_I)] = None
            out[_deleet(view, _LEET_L)] = None
    return tuple(out)


__all__ = [
    "SPACED_ASCII_BODY",
    "normalize",
    "plain_ascii",
    "spaced_letters",
    "views",
    "views_of",
]
