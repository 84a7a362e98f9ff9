"""What may leave the process: prompt fingerprints, scrubbed error text, flat attributes.

Telemetry is exported to systems with wider access than the application itself,
so nothing here ever carries an API key, prompt text (unless the operator opts
in) or image bytes: prompts become a hash and a length, error text is redacted
for key-shaped strings and for the prompt itself, and free-form fields are cut
down to short scalars.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..errors import redact

#: Prompts shorter than this are not scrubbed out of error text: replacing "a" or
#: "cat" everywhere would mangle the message and protects nothing.
MIN_SCRUB_LENGTH = 4
#: Longest string value kept in a span attribute or log field built from free text.
MAX_TEXT = 512

PROMPT_MARK = "<prompt>"
#: What is left of a text that could not be cleaned of the prompt.
REDACTED = "<redacted>"

Scalar = str | bool | int | float


def prompt_digest(prompt: str) -> str:
    """A stable fingerprint of ``prompt`` (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def scrub(text: str, prompt: str | None = None) -> str:
    """``text`` without anything key-shaped and without the prompt, capped at ``MAX_TEXT``."""
    text = redact(text)
    if prompt and len(prompt) >= MIN_SCRUB_LENGTH:
        for _ in range(3):  # a replacement can splice a new occurrence out of its neighbours
            if prompt not in text:
                break
            text = text.replace(prompt, PROMPT_MARK)
        if prompt in text:
            return REDACTED
        text = redact(text)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "..."
    return text


def error_message(error: BaseException, prompt: str | None = None) -> str:
    """The scrubbed message of ``error`` (``GenGuardError.message`` or ``str(error)``)."""
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        try:
            message = str(error)
        except Exception:  # a broken __str__ must not break telemetry
            message = ""
    return scrub(message, prompt)


def flat_fields(fields: Mapping[str, Any], prompt: str | None = None) -> dict[str, Scalar]:
    """Keep scalar values only (strings scrubbed); bytes, objects and containers are dropped."""
    out: dict[str, Scalar] = {}
    for key, value in fields.items():
        if isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = scrub(value, prompt)
    return out


__all__ = [
    "MAX_TEXT",
    "MIN_SCRUB_LENGTH",
    "Scalar",
    "error_message",
    "flat_fields",
    "prompt_digest",
    "scrub",
]
