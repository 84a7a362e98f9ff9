"""The ``rules`` classifier: categories of word and phrase patterns, matched on normalised text.

Local, free and fast (no network), so it runs first and refuses the obvious cases
before a paid moderation call. Its limits are those of any word list: it sees
words, not meaning ("a painting of a massacre" and a news photo look alike),
and a determined writer can paraphrase around it. See docs/safety.md.

Pattern syntax, one rule per string:

- ``severed head``: whole words, in order, separated by anything non-alphanumeric
  (or nothing: ``self harm`` also matches "self-harm" and "selfharm");
- ``decapitat*``: a word starting with ``decapitat``; a lone ``*`` is any one word
  (``slit * wrists``);
- ``gore|gory``: any of the alternatives;
- ``child|kid & nude|naked``: every ``&`` part must match somewhere in the text
  (a rule given as a list of strings means the same);
- ``re:<regex>``: a raw regular expression over the normalised text.

Patterns are normalised like the text (NFKC, case-folded, accents stripped), and
each rule is tried on every de-obfuscated view of the text (``normalize.views``).
Allowlisted phrases are blanked out of the text before any rule is tried.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidRequest
from ..files import FileRefused, read_bounded
from ..model import GenerationRequest
from .defaults import BUILTIN_CATEGORIES, DEFAULT_ALLOWLIST, DEFAULT_CATEGORY_NAMES
from .normalize import SPACED_ASCII_BODY, normalize, plain_ascii, spaced_letters, views_of
from .verdict import Verdict

#: A rule: one string (parts joined by " & "), or a list of part strings.
RuleSpec = str | Sequence[str]

#: Longest rule text quoted in a verdict's reason.
MAX_REASON_SOURCE = 60
#: Longest text the classifier judges (characters): OpenAI's own prompt cap. A longer
#: one is refused, not judged in part (an attacker would hide the payload past the cut).
DEFAULT_MAX_CHARS = 32_000
#: Texts up to this many characters are judged on the event loop (well under a
#: millisecond); longer ones in a worker thread, so the loop keeps serving other calls
#: and the call's deadline can still fire.
DEFAULT_INLINE_CHARS = 2_000

_NON_PATTERN = re.compile(r"[^\w*]+|_")
_AND = re.compile(r"\s+&\s+")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule: every part must match at least one view of the text."""

    category: str
    index: int
    source: str
    parts: tuple[re.Pattern[str], ...]

    def matches(self, texts: Sequence[str], seen: dict[re.Pattern[str], bool]) -> bool:
        """``seen`` caches each part's result, since rules share parts."""
        for part in self.parts:
            hit = seen.get(part)
            if hit is None:
                hit = seen[part] = any(part.search(text) for text in texts)
            if not hit:
                return False
        return True


def _compile_alternative(phrase: str, path: str) -> str:
    tokens = _NON_PATTERN.sub(" ", normalize(phrase)).split()
    if not tokens:
        raise ConfigError(path, f"pattern {phrase!r} has no letters or digits")
    pieces: list[str] = []
    for position, token in enumerate(tokens):
        if token == "*":
            piece = r"\w+"
        elif token.endswith("*") and "*" not in token[:-1]:
            piece = re.escape(token[:-1]) + r"\w*"
        elif "*" in token:
            raise ConfigError(path, f"'*' may only end a word or stand alone, in {phrase!r}")
        else:
            piece = re.escape(token)
        if position:
            wild = token == "*" or tokens[position - 1] == "*"
            pieces.append(r"[\W_]+" if wild else r"[\W_]*")
        pieces.append(piece)
    return "".join(pieces)


def compile_part(text: str, path: str) -> re.Pattern[str]:
    """One part of a rule: ``re:<regex>`` or ``a|b c|d*`` alternatives."""
    if not isinstance(text, str):
        raise ConfigError(path, f"a pattern must be a string, got {type(text).__name__}")
    if text.startswith("re:"):
        source = text[3:]
        if not source:
            raise ConfigError(path, "empty regular expression")
    else:
        alternatives = [a for a in (a.strip() for a in text.split("|")) if a]
        if not alternatives:
            raise ConfigError(path, f"empty pattern {text!r}")
        body = "|".join(_compile_alternative(a, path) for a in alternatives)
        source = rf"(?<!\w)(?:{body})(?!\w)"
    try:
        return re.compile(source)
    except re.error as exc:
        raise ConfigError(path, f"invalid regular expression: {exc}") from None


def compile_rule(category: str, index: int, rule: object, path: str) -> CompiledRule:
    """A rule string (parts joined by `` & ``) or a list of part strings."""
    if isinstance(rule, str):
        text = rule.strip()
        parts = [text] if text.startswith("re:") else _AND.split(text)
        source = text
    elif isinstance(rule, Sequence) and rule and all(isinstance(p, str) for p in rule):
        parts = [p.strip() for p in rule]
        source = " & ".join(parts)
    else:
        raise ConfigError(path, "a rule must be a string or a non-empty list of strings")
    compiled = tuple(compile_part(p, path) for p in parts)
    return CompiledRule(category, index, source, compiled)


def load_rules_file(file: str | os.PathLike[str]) -> tuple[dict[str, list[RuleSpec]], list[str]]:
    """Read ``{categories: {name: [rule, ...]}, allowlist: [phrase, ...]}`` from YAML or JSON."""
    from ..config.loader import MAX_CONFIG_BYTES, parse_text

    where = f"file {os.fspath(file)!r}"
    path = Path(file)
    try:
        # The same limits as a policy file: size, regular file, depth, aliases.
        raw = read_bounded(path.parent, path.name, max_bytes=MAX_CONFIG_BYTES)
        data = parse_text(raw.decode("utf-8"), "yaml", where)
    except FileRefused as exc:
        raise ConfigError("file", f"cannot read {where}: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("file", f"{where} is not valid YAML/JSON: {exc}") from None
    except ConfigError as exc:
        raise ConfigError("file", f"{where} is not valid YAML/JSON: {exc.reason}") from None
    if not isinstance(data, dict):
        raise ConfigError("file", f"{where} must hold a mapping with 'categories'/'allowlist'")
    unknown = set(data) - {"categories", "allowlist"}
    if unknown:
        raise ConfigError("file", f"{where}: unknown keys {sorted(map(str, unknown))}")
    categories = data.get("categories") or {}
    allowlist = data.get("allowlist") or []
    if not isinstance(categories, dict):
        raise ConfigError("file.categories", f"{where}: 'categories' must be a mapping")
    if not isinstance(allowlist, list) or not all(isinstance(a, str) for a in allowlist):
        raise ConfigError("file.allowlist", f"{where}: 'allowlist' must be a list of strings")
    out: dict[str, list[RuleSpec]] = {}
    for name, rules in categories.items():
        if not isinstance(name, str) or not isinstance(rules, list):
            raise ConfigError(
                f"file.categories.{name}", f"{where}: each category is a list of rules"
            )
        out[name] = [tuple(r) if isinstance(r, list) else r for r in rules]
    return out, list(allowlist)


class RulesClassifier:
    """Word and phrase patterns per category; a match flags the category with score 1.0.

    ``categories``: None for the default sets (sexual_minors, violence, self_harm,
    hate); a list of built-in set names (those plus ``sexual``); or a mapping of
    category name to rules. ``file``: a YAML/JSON file of more categories and
    allowlist phrases, merged in. ``allowlist``: phrases blanked out before
    matching. ``include_defaults`` (default: only when neither ``categories`` nor
    ``file`` is given) adds the default sets and the default allowlist.
    """

    def __init__(
        self,
        categories: Mapping[str, Sequence[RuleSpec]] | Sequence[str] | str | None = None,
        allowlist: Sequence[str] = (),
        file: str | os.PathLike[str] | None = None,
        *,
        include_defaults: bool | None = None,
        name: str = "rules",
        max_chars: int = DEFAULT_MAX_CHARS,
        inline_chars: int = DEFAULT_INLINE_CHARS,
    ) -> None:
        self.name = name
        for option, value in (("max_chars", max_chars), ("inline_chars", inline_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(option, f"must be an integer >= 0, got {value!r}")
        self.max_chars = max_chars
        self.inline_chars = inline_chars
        self._workers: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._allowed: Verdict | None = None
        if include_defaults is None:
            include_defaults = categories is None and file is None
        sources: dict[str, list[RuleSpec]] = {}
        allow: list[str] = []
        uses_builtin = False
        if include_defaults:
            for set_name in DEFAULT_CATEGORY_NAMES:
                sources.setdefault(set_name, []).extend(BUILTIN_CATEGORIES[set_name])
            uses_builtin = True
        if isinstance(categories, str):
            categories = [categories]
        if isinstance(categories, Mapping):
            for cat, rules in categories.items():
                if not isinstance(cat, str) or not cat:
                    raise ConfigError("categories", f"category names are strings, got {cat!r}")
                if isinstance(rules, str) or not isinstance(rules, Sequence):
                    raise ConfigError(f"categories.{cat}", "must be a list of rules")
                sources.setdefault(cat, []).extend(rules)
        elif categories is not None:
            for set_name in categories:
                if set_name not in BUILTIN_CATEGORIES:
                    raise ConfigError(
                        "categories",
                        f"no built-in rule set {set_name!r}; built-in sets: "
                        f"{', '.join(BUILTIN_CATEGORIES)}",
                    )
                sources.setdefault(set_name, []).extend(BUILTIN_CATEGORIES[set_name])
            uses_builtin = True
        if file is not None:
            file_categories, file_allow = load_rules_file(file)
            for cat, rules in file_categories.items():
                sources.setdefault(cat, []).extend(rules)
            allow.extend(file_allow)
        if isinstance(allowlist, str):
            raise ConfigError("allowlist", "must be a list of phrases, not one string")
        allow.extend(allowlist)
        if uses_builtin:
            allow.extend(DEFAULT_ALLOWLIST)
        if not sources:
            raise ConfigError("categories", "the rules classifier has no rules")

        self.categories: dict[str, tuple[CompiledRule, ...]] = {
            cat: tuple(
                compile_rule(cat, i, rule, f"categories.{cat}[{i}]") for i, rule in enumerate(rules)
            )
            for cat, rules in sources.items()
        }
        self.allowlist: tuple[str, ...] = tuple(dict.fromkeys(allow))
        self._allow: re.Pattern[str] | None = None
        if self.allowlist:
            parts = [
                compile_part(a, f"allowlist[{i}]").pattern for i, a in enumerate(self.allowlist)
            ]
            self._allow = re.compile("|".join(f"(?:{p})" for p in parts))
        patterns = {
            part.pattern: None
            for rules in self.categories.values()
            for rule in rules
            for part in rule.parts
        }
        gated, others = _word_prefixes(patterns)
        by_prefix: dict[str, list[re.Pattern[str]]] = {}
        for pattern, prefixes in gated.items():
            compiled = re.compile(pattern)
            for prefix in prefixes:
                by_prefix.setdefault(prefix, []).append(compiled)
        #: literal word prefix -> the parts that can only match at a word starting with it
        self._by_prefix = {prefix: tuple(parts) for prefix, parts in by_prefix.items()}
        self._prefix_lengths = sorted({len(p) for p in by_prefix})
        self._gate = _prefix_gate(frozenset(by_prefix), 0)
        self._gate_ascii = _prefix_gate(frozenset(by_prefix), re.ASCII)
        #: For plain ASCII text: the gate and the spaced-letters search in one scan (both
        #: open on a non-word character; the spaced branch is tried first, so the gate's
        #: hits are the same as its own wherever no spaced letters are found).
        self._gate_spaced = (
            None
            if self._gate_ascii is None
            else re.compile(
                rf"[^\w](?:(?P<spaced>{SPACED_ASCII_BODY})|"
                rf"{self._gate_ascii.pattern[len(_GATE_OPEN) :]})",
                re.ASCII,
            )
        )
        self._others = _union(others)
        # A looser copy without leading lookbehinds lets the engine skip ahead to the
        # characters a match can start with; only where it matches is the exact one run.
        self._others_loose = _union({_loosen(p): None for p in others})

    def match(self, text: str) -> dict[str, CompiledRule]:
        """The first matching rule of each category that matches ``text``."""
        # Most prompts match nothing, and proving it is the hot path. A part with literal
        # word prefixes can only match where a word starts with one: one scan finds those
        # words, and only the parts of that prefix are tried there, anchored. The
        # remaining (raw regex) parts are searched as one alternation.
        base = normalize(text)
        fused = self._gate_spaced
        if fused is not None and plain_ascii(base):
            # Its only view is itself unless it has spaced letters: one scan finds those
            # or the gate's words.
            starts: list[int] = []
            for hit in fused.finditer(" " + base):
                if hit.lastgroup == "spaced":
                    texts = views_of(base, True)
                    if not self._may_match(texts):
                        return {}
                    break
                starts.append(hit.start())
            else:
                texts = (base,)
                if not self._others_match(texts) and not any(
                    self._prefix_hit(base, at) for at in starts
                ):
                    return {}
        else:
            texts = views_of(base, spaced_letters(base))
            if not self._may_match(texts):
                return {}
        # Blanking allowlisted phrases can only remove matches, so it waits until here.
        if self._allow is not None:
            texts = tuple(self._allow.sub(" ", t) for t in texts)
        found: dict[str, CompiledRule] = {}
        seen: dict[re.Pattern[str], bool] = {}
        for category, rules in self.categories.items():
            for rule in rules:
                if rule.matches(texts, seen):
                    found[category] = rule
                    break
        return found

    def _may_match(self, texts: Sequence[str]) -> bool:
        if self._others_match(texts):
            return True
        return any(self._gated(text) for text in texts)

    def _others_match(self, texts: Sequence[str]) -> bool:
        """Whether a part without literal word prefixes matches any of ``texts``."""
        others, loose = self._others, self._others_loose
        return (
            others is not None
            and (loose is None or any(loose.search(t) for t in texts))
            and any(others.search(t) for t in texts)
        )

    def _gated(self, text: str) -> bool:
        """Whether a part with literal word prefixes matches at a word starting with one."""
        gate = self._gate_ascii if text.isascii() else self._gate
        if gate is None:
            return False
        # The gate opens on a non-word character: one space in front stands for the
        # start of the text, so a hit at ``m.start()`` is a word starting there.
        return any(self._prefix_hit(text, hit.start()) for hit in gate.finditer(" " + text))

    def _prefix_hit(self, text: str, at: int) -> bool:
        """Whether a part of the prefix the word at ``at`` starts with matches there."""
        word = _WORD.match(text, at)
        if word is None:
            return False
        token = word.group()
        by_prefix = self._by_prefix
        for length in self._prefix_lengths:
            if length > len(token):
                break
            for part in by_prefix.get(token[:length], ()):
                if part.match(text, at):
                    return True
        return False

    async def classify(self, request: GenerationRequest) -> Verdict:
        text = request.prompt
        if len(text) > self.max_chars:
            raise InvalidRequest(
                f"{self.name} classifier: text of {len(text)} characters is over its "
                f"max_chars of {self.max_chars}",
                field="prompt",
            )
        if len(text) <= self.inline_chars:
            found = self.match(text)
        else:
            # One worker at a time: regex searches hold the GIL, so several threads at
            # once would starve the event loop as surely as running them on it.
            async with self._worker_for(asyncio.get_running_loop()):
                found = await asyncio.to_thread(self.match, text)
        if not found:
            # Most texts: the same verdict every time (it is frozen), built once per name.
            allowed = self._allowed
            if allowed is None or allowed.classifier != self.name:
                allowed = self._allowed = Verdict(allowed=True, classifier=self.name)
            return allowed
        reason = "; ".join(
            f"{cat} rule #{rule.index} ({_shorten(rule.source)})" for cat, rule in found.items()
        )
        return Verdict(
            allowed=False,
            categories={cat: 1.0 for cat in found},
            flagged=tuple(found),
            reason=reason,
            classifier=self.name,
        )

    def _worker_for(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        """The one-worker gate of ``loop`` (a classifier may outlive a loop, e.g. in tests)."""
        if self._workers is None or self._workers[0] is not loop:
            self._workers = (loop, asyncio.Semaphore(1))
        return self._workers[1]

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {len(r)}" for c, r in self.categories.items())
        return (
            f"RulesClassifier(name={self.name!r}, rules={{{counts}}}, "
            f"allowlist={len(self.allowlist)})"
        )


_WORD_OPEN, _WORD_CLOSE = r"(?<!\w)(?:", r")(?!\w)"
#: What the prefix gate opens on: a non-word character before the word.
_GATE_OPEN = r"[^\w]"
_LITERAL_PREFIX = re.compile(r"\w+")
_WORD = re.compile(r"\w+")


def _word_prefixes(
    patterns: Mapping[str, None],
) -> tuple[dict[str, frozenset[str]], dict[str, None]]:
    r"""Split rule parts into those with literal word prefixes (each with its prefixes)
    and those that have none.

    A word-bounded part (``(?<!\w)(?:alt|alt)(?!\w)``) whose every alternative
    starts with literal word characters can only match at a word that starts with
    one of them; so can a ``re:`` part that opens with ``\b`` and literal words
    (``\b(?:stab|stabs)\s+...``). Other ``re:`` parts and leading ``*`` wildcards
    have no such prefix and are returned as they are.
    """
    gated: dict[str, frozenset[str]] = {}
    others: dict[str, None] = {}
    for pattern in patterns:
        found: list[str] = []
        if pattern.startswith(_WORD_OPEN) and pattern.endswith(_WORD_CLOSE):
            for alternative in pattern[len(_WORD_OPEN) : -len(_WORD_CLOSE)].split("|"):
                literal = _LITERAL_PREFIX.match(alternative)
                if literal is None:
                    break
                found.append(literal.group())
            else:
                gated[pattern] = frozenset(found)
                continue
        else:
            raw = _regex_prefixes(pattern)
            if raw:
                gated[pattern] = frozenset(raw)
                continue
        others[pattern] = None
    return gated, others


#: Characters a word prefix is made of (patterns are normalised, so lower case).
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _regex_prefixes(pattern: str) -> set[str] | None:
    r"""The literal words a match of a raw regex must start with, or None if not known.

    Only a regex that opens with ``\b`` and then literal word characters (or a group
    of alternatives that each do) qualifies: a match then starts where a word starts
    with one of them. Anything else (flags, classes, lookarounds) is None.
    """
    parser = importlib.import_module("re._parser")
    constants = importlib.import_module("re._constants")
    try:
        parsed = parser.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & ~(re.UNICODE | re.DEBUG):
        return None
    items = list(parsed)
    if not items or items[0] != (constants.AT, constants.AT_BOUNDARY):
        return None
    return _leading_literals(items[1:], constants)


def _leading_literals(items: Sequence[tuple[object, object]], k: Any) -> set[str] | None:
    prefix = ""
    for op, av in items:
        if op is k.LITERAL and isinstance(av, int) and chr(av) in _PREFIX_CHARS:
            prefix += chr(av)
            continue
        if prefix:
            return {prefix}
        if op is k.SUBPATTERN and isinstance(av, tuple):
            _, add_flags, del_flags, body = av
            if add_flags or del_flags:
                return None
            return _leading_literals(list(body), k)
        if op is k.BRANCH and isinstance(av, tuple):
            out: set[str] = set()
            for branch in av[1]:
                found = _leading_literals(list(branch), k)
                if not found:
                    return None
                out |= found
            return out
        return None
    return {prefix} if prefix else None


def _prefix_gate(prefixes: frozenset[str], flags: int) -> re.Pattern[str] | None:
    """One regex that finds a non-word character followed by a word starting with any of
    ``prefixes``, built as a trie (``re.ASCII`` in ``flags``: for ASCII text only).

    A trie-shaped alternation lets the engine try one branch per letter at each word
    start instead of every prefix in turn, and opening on a character class lets it
    skip to the non-word characters: proving that no word qualifies (most prompts)
    costs one quick scan of the text.
    """
    if not prefixes:
        return None
    trie: dict[str, dict[str, Any]] = {}
    for word in prefixes:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict[str, Any]]) -> str:
        if "" in node:  # a shorter prefix ends here: whatever follows already qualifies
            return ""
        alternatives = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        if len(alternatives) == 1:
            return alternatives[0]
        return "(?:" + "|".join(alternatives) + ")"

    return re.compile(_GATE_OPEN + emit(trie), flags)


def _loosen(pattern: str) -> str:
    """``pattern`` without its leading lookbehinds: it matches wherever ``pattern`` does,
    and the engine can skip to the characters it starts with. Unchanged if unsure."""
    out = pattern
    while out.startswith(("(?<!", "(?<=")):
        depth, index, in_class = 0, 0, False
        while index < len(out):
            ch = out[index]
            if ch == "\\":
                index += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        else:
            return pattern
        out = out[index + 1 :]
    try:
        re.compile(out)
    except re.error:
        return pattern
    return out or pattern


def _union(patterns: Mapping[str, None]) -> re.Pattern[str] | None:
    """One alternation of rule parts: no match in it means none of them can match.

    Word-bounded parts share one boundary check, so the engine tries their
    alternatives only at word starts. An empty alternation never matches (None);
    parts that cannot be joined (a ``re:`` part with global flags) give a pattern
    that always matches, so every rule is then tried as usual.
    """
    bodies: list[str] = []
    raw: list[str] = []
    for pattern in patterns:
        if pattern.startswith(_WORD_OPEN) and pattern.endswith(_WORD_CLOSE):
            bodies.append(pattern[len(_WORD_OPEN) : -len(_WORD_CLOSE)])
        else:
            raw.append(f"(?:{pattern})")
    if bodies:
        raw.insert(0, _WORD_OPEN + "|".join(bodies) + _WORD_CLOSE)
    if not raw:
        return None
    try:
        return re.compile("|".join(raw))
    except re.error:
        return re.compile("")


def _shorten(source: str) -> str:
    return source if len(source) <= MAX_REASON_SOURCE else source[: MAX_REASON_SOURCE - 3] + "..."


__all__ = [
    "CompiledRule",
    "RuleSpec",
    "RulesClassifier",
    "compile_part",
    "compile_rule",
    "load_rules_file",
]
