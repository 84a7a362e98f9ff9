"""Every field of a request bounded and typed before anything is booked or sent.

A request is untrusted input: its numbers feed rate-limit bookings (``n=10**9``
would book a key for years), its strings go into URLs and headers (a CRLF in a
MIME type, ``../x`` as a model name) and its prompt is encoded as UTF-8 (a lone
surrogate cannot be). So ``GenerationRequest`` checks itself here, once, and a
bad field is an :class:`~genguard.errors.InvalidRequest` naming the field: a
local error, never a provider's ``BadRequest`` and never a ``ValueError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import InvalidRequest

if TYPE_CHECKING:
    from .model import GenerationRequest, Image, Turn

#: Images per request, for any model: a bound on what one request can book. Each model's
#: own (smaller) limit is the catalogue's check.
MAX_N = 64
#: Prompt length in characters; far above any provider's own limit, so only abuse hits it.
MAX_PROMPT_CHARS = 1_000_000
#: A token estimate above this is not an estimate.
MAX_TOKEN_ESTIMATE = 10_000_000
#: One day: a longer per-request deadline is a mistake, and an infinite one is no deadline.
MAX_DEADLINE = 86_400.0
#: Seeds are signed 64-bit on every API that takes one.
SEED_RANGE = (-(2**63), 2**64 - 1)
#: Short identifiers: model, size, aspect ratio, idempotency key, metadata.
MAX_TOKEN_CHARS = 256
MAX_METADATA = 64
MAX_IMAGES = 16
MAX_HISTORY_TURNS = 1000

#: ``type/subtype``, nothing that could end a header or a multipart line.
MIME_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,63}"
)
#: A model id: safe as one URL path segment (no ``/`` beyond a ``models/`` prefix, no
#: ``..``, no ``:`` that would change a Gemini method, no ``?``/``#``/``%``).
MODEL_NAME = re.compile(r"(?:models/)?[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_request(request: GenerationRequest) -> None:
    """Raise ``InvalidRequest`` for the first field of ``request`` out of bounds."""
    check_prompt(request.prompt, "prompt")
    _check_int("n", request.n, 1, MAX_N)
    if request.seed is not None:
        _check_int("seed", request.seed, *SEED_RANGE)
    if request.token_estimate is not None:
        _check_int("token_estimate", request.token_estimate, 0, MAX_TOKEN_ESTIMATE)
    if request.deadline is not None:
        deadline = request.deadline
        if (
            isinstance(deadline, bool)
            or not isinstance(deadline, int | float)
            or not 0 < deadline <= MAX_DEADLINE  # compared first: isfinite(10**400) overflows
            or not math.isfinite(deadline)
        ):
            raise InvalidRequest(
                f"deadline must be a number of seconds in (0, {MAX_DEADLINE:g}], got {deadline!r}",
                field="deadline",
            )
    if request.model is not None:
        check_model_name(request.model, "model")
    _check_token("size", request.size)
    _check_token("aspect_ratio", request.aspect_ratio)
    _check_token("idempotency_key", request.idempotency_key, header=True)
    _check_images(request.images, "images")
    _check_history(request.history)
    _check_metadata(request.metadata)


def check_prompt(prompt: object, field: str) -> None:
    if not isinstance(prompt, str):
        raise InvalidRequest(f"{field} must be a string, got {type(prompt).__name__}", field=field)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"{field} has {len(prompt)} characters, over the limit of {MAX_PROMPT_CHARS}",
            field=field,
        )
    if prompt.isascii():  # nothing to encode wrongly, and far cheaper to tell
        return
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"{field} is not valid Unicode text (a lone surrogate at index {exc.start})",
            field=field,
        ) from None


def check_model_name(model: object, field: str = "model") -> str:
    """``model`` if it is a safe model id (one URL path segment), else ``InvalidRequest``."""
    if not isinstance(model, str) or MODEL_NAME.fullmatch(model) is None or ".." in model:
        shown = model[:40] if isinstance(model, str) else type(model).__name__
        raise InvalidRequest(
            f"{field} {shown!r} is not a model id (letters, digits, '.', '_', '-'; "
            "an optional 'models/' prefix)",
            field=field,
        )
    return model


def check_mime_type(mime: object, field: str) -> None:
    if not isinstance(mime, str) or MIME_TYPE.fullmatch(mime) is None:
        shown = mime[:40] if isinstance(mime, str) else type(mime).__name__
        raise InvalidRequest(f"{field} {shown!r} is not a MIME type (type/subtype)", field=field)


def _check_int(field: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{field} must be an integer, got {type(value).__name__}", field=field)
    if not low <= value <= high:
        shown = (
            str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
        )
        raise InvalidRequest(f"{field} from {low} to {high}, got {shown}", field=field)


def _check_token(field: str, value: object, *, header: bool = False) -> None:
    """A short string; ``header``: it is sent as an HTTP header value (no CR, LF or NUL)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string, got {type(value).__name__}", field=field)
    if len(value) > MAX_TOKEN_CHARS:
        raise InvalidRequest(f"{field} must be at most {MAX_TOKEN_CHARS} characters", field=field)
    if header and _CONTROL.search(value):
        raise InvalidRequest(f"{field} must not hold control characters", field=field)
    check_prompt(value, field)


def _check_images(images: object, field: str) -> None:
    if type(images) is tuple and not images:  # most requests: nothing to look at
        return
    from .model import Image

    if not isinstance(images, tuple):
        raise InvalidRequest(f"{field} must be a tuple of Image", field=field)
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"{field}: at most {MAX_IMAGES} images", field=field)
    for index, image in enumerate(images):
        if not isinstance(image, Image):
            raise InvalidRequest(f"{field}[{index}] must be an Image", field=f"{field}[{index}]")
        _check_image(image, f"{field}[{index}]")


def _check_image(image: Image, field: str) -> None:
    if not isinstance(image.data, bytes | bytearray | memoryview):
        raise InvalidRequest(f"{field}.data must be bytes", field=f"{field}.data")
    check_mime_type(image.mime_type, f"{field}.mime_type")


def _check_history(history: object) -> None:
    if type(history) is tuple and not history:
        return
    from .model import Turn

    if not isinstance(history, tuple):
        raise InvalidRequest("history must be a tuple of Turn", field="history")
    if len(history) > MAX_HISTORY_TURNS:
        raise InvalidRequest(f"history: at most {MAX_HISTORY_TURNS} turns", field="history")
    for t, turn in enumerate(history):
        if not isinstance(turn, Turn):
            raise InvalidRequest(f"history[{t}] must be a Turn", field=f"history[{t}]")
        _check_turn(turn, f"history[{t}]")


def _check_turn(turn: Turn, where: str) -> None:
    for p, part in enumerate(turn.parts):
        here = f"{where}.parts[{p}]"
        if part.text is not None:
            check_prompt(part.text, f"{here}.text")
        if part.image is not None:
            _check_image(part.image, f"{here}.image")
        if part.thought_signature is not None:
            check_prompt(part.thought_signature, f"{here}.thought_signature")


def _check_metadata(metadata: object) -> None:
    if type(metadata) is dict and not metadata:  # the default: skip the ABC check
        return
    if not isinstance(metadata, Mapping):
        raise InvalidRequest("metadata must be a mapping of strings", field="metadata")
    if len(metadata) > MAX_METADATA:
        raise InvalidRequest(f"metadata: at most {MAX_METADATA} entries", field="metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequest("metadata keys and values must be strings", field="metadata")
        _check_token(f"metadata[{key[:40]!r}]", value)
        _check_token("metadata key", key)


__all__ = [
    "MAX_DEADLINE",
    "MAX_N",
    "MAX_PROMPT_CHARS",
    "MAX_TOKEN_ESTIMATE",
    "check_mime_type",
    "check_model_name",
    "check_prompt",
    "check_request",
]
