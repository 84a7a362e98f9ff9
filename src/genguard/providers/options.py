"""Provider options by name: each provider declares the names it reads, and a name it
does not know is an error before anything is sent, never a setting silently dropped.

``request.options`` carries both provider parameters (``quality``...) and a few
genguard-wide switches read by layers (``prompt_policy``, ``service_tier``).
The TypedDicts give editors and type checkers the same lists.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any, Literal, TypedDict

from ..errors import InvalidRequest

#: Options read by genguard itself, valid with every provider: the prompt-policy
#: opt-out, and the price book's ``quality`` and ``service_tier`` (a provider that has
#: no such parameter ignores them; they still price the call).
COMMON_OPTIONS = frozenset({"prompt_policy", "service_tier", "quality"})


class CommonOptions(TypedDict, total=False):
    """Options every provider accepts."""

    #: ``False`` opts this request out of the prompt-policy layer.
    prompt_policy: bool
    #: The price tier the cost layer charges this request at.
    service_tier: str
    #: The quality the price book charges (and, for OpenAI, the API parameter).
    quality: str


class OpenAIOptions(CommonOptions, total=False):
    """``request.options`` for OpenAI Images (passed through as API fields)."""

    background: Literal["auto", "transparent", "opaque"]
    output_format: Literal["png", "jpeg", "webp"]
    output_compression: int
    moderation: Literal["auto", "low"]
    style: Literal["vivid", "natural"]
    response_format: Literal["url", "b64_json"]
    input_fidelity: Literal["low", "high"]
    user: str
    #: Edits: the mask, an ``Image`` or PNG bytes.
    mask: Any
    #: Streams: partial images per image (0-3).
    partial_images: int


class GeminiOptions(CommonOptions, total=False):
    """``request.options`` for Gemini (most settings live on the provider)."""

    #: ``1K``, ``2K`` or ``4K`` for the models that take it (the catalogue says which).
    image_size: str


def check_options(provider: str, options: Mapping[str, Any] | None, known: Collection[str]) -> None:
    """Raise ``InvalidRequest`` naming the first option ``provider`` does not read."""
    if not options:
        return
    for name in options:
        if name in known or name in COMMON_OPTIONS:
            continue
        choices = sorted({*known, *COMMON_OPTIONS})
        close = difflib.get_close_matches(str(name), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidRequest(
            f"{provider}: unknown option {name!r}{hint}; options it reads: {', '.join(choices)}",
            field=f"options.{name}",
            value=None,
            allowed=tuple(choices),
        )


__all__ = [
    "COMMON_OPTIONS",
    "CommonOptions",
    "GeminiOptions",
    "OpenAIOptions",
    "check_options",
]
