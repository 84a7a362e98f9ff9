"""One category list for every block, whoever raised it.

Providers name their blocks differently (Gemini harm categories, block and
finish reasons; OpenAI error codes and moderation categories). Every
``ContentBlocked`` carries one of the categories below in ``category`` and the
provider's own word in ``reason``, so dashboards and policies speak one language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SEXUAL = "sexual"
SEXUAL_MINORS = "sexual_minors"
VIOLENCE = "violence"
SELF_HARM = "self_harm"
HATE = "hate"
HARASSMENT = "harassment"
DANGEROUS = "dangerous"
ILLICIT = "illicit"
PROHIBITED = "prohibited"
RECITATION = "recitation"
PII = "pii"
BLOCKLIST = "blocklist"
UNSPECIFIED = "unspecified"

CATEGORIES: tuple[str, ...] = (
    SEXUAL,
    SEXUAL_MINORS,
    VIOLENCE,
    SELF_HARM,
    HATE,
    HARASSMENT,
    DANGEROUS,
    ILLICIT,
    PROHIBITED,
    RECITATION,
    PII,
    BLOCKLIST,
    UNSPECIFIED,
)

#: Gemini ``HARM_CATEGORY_*`` (safetyRatings, safetySettings).
GEMINI_HARM_CATEGORIES: Mapping[str, str] = {
    "HARM_CATEGORY_SEXUALLY_EXPLICIT": SEXUAL,
    "HARM_CATEGORY_HATE_SPEECH": HATE,
    "HARM_CATEGORY_HARASSMENT": HARASSMENT,
    "HARM_CATEGORY_DANGEROUS_CONTENT": DANGEROUS,
    "HARM_CATEGORY_CIVIC_INTEGRITY": UNSPECIFIED,
    "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT": SEXUAL,
    "HARM_CATEGORY_IMAGE_HATE": HATE,
    "HARM_CATEGORY_IMAGE_HARASSMENT": HARASSMENT,
    "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT": DANGEROUS,
    "HARM_CATEGORY_JAILBREAK": PROHIBITED,  # Vertex only
}

#: Gemini ``promptFeedback.blockReason`` and candidate ``finishReason`` values that are blocks.
GEMINI_BLOCK_REASONS: Mapping[str, str] = {
    "SAFETY": UNSPECIFIED,  # refined from safetyRatings when present
    "IMAGE_SAFETY": UNSPECIFIED,
    "PROHIBITED_CONTENT": PROHIBITED,
    "IMAGE_PROHIBITED_CONTENT": PROHIBITED,
    "BLOCKLIST": BLOCKLIST,
    "SPII": PII,
    "RECITATION": RECITATION,
    "IMAGE_RECITATION": RECITATION,
    "OTHER": UNSPECIFIED,
    "BLOCKED_REASON_UNSPECIFIED": UNSPECIFIED,
    "MODEL_ARMOR": UNSPECIFIED,
    "JAILBREAK": PROHIBITED,
}

#: OpenAI moderation categories (``/v1/moderations`` and ``moderation_details``).
OPENAI_MODERATION_CATEGORIES: Mapping[str, str] = {
    "sexual": SEXUAL,
    "sexual/minors": SEXUAL_MINORS,
    "violence": VIOLENCE,
    "violence/graphic": VIOLENCE,
    "self-harm": SELF_HARM,
    "self-harm/intent": SELF_HARM,
    "self-harm/instructions": SELF_HARM,
    "hate": HATE,
    "hate/threatening": HATE,
    "harassment": HARASSMENT,
    "harassment/threatening": HARASSMENT,
    "illicit": ILLICIT,
    "illicit/violent": ILLICIT,
}

#: OpenAI error codes that mean a content block.
OPENAI_BLOCK_CODES: Mapping[str, str] = {
    "content_policy_violation": UNSPECIFIED,
    "moderation_blocked": UNSPECIFIED,
}


def gemini_category(reason: str | None, harm_categories: Iterable[str] = ()) -> str:
    """Uniform category for a Gemini block: the first blocked harm category, else the reason's."""
    for harm in harm_categories:
        mapped = GEMINI_HARM_CATEGORIES.get(harm)
        if mapped and mapped != UNSPECIFIED:
            return mapped
    return GEMINI_BLOCK_REASONS.get(reason or "", UNSPECIFIED)


def openai_category(code: str | None, moderation_categories: Iterable[str] = ()) -> str:
    """Uniform category for an OpenAI block: first flagged moderation category, else the code's."""
    for name in moderation_categories:
        mapped = OPENAI_MODERATION_CATEGORIES.get(name)
        if mapped:
            return mapped
    return OPENAI_BLOCK_CODES.get(code or "", UNSPECIFIED)


__all__ = [
    "CATEGORIES",
    "GEMINI_BLOCK_REASONS",
    "GEMINI_HARM_CATEGORIES",
    "OPENAI_BLOCK_CODES",
    "OPENAI_MODERATION_CATEGORIES",
    "gemini_category",
    "openai_category",
]
