"""Small, strict helpers for reading provider JSON: typed getters, base64, text snippets.

Parsers raise :class:`WireError` (a plain message naming the field) and the
provider turns it into a ``ResponseError`` with its own context, so a malformed
body never surfaces as ``KeyError``/``TypeError`` and messages always say which
field was wrong.
"""

from __future__ import annotations

import binascii
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from types import TracebackType
from typing import Any, TypeVar, cast

from ..catalogue.validate import today_of
from ..errors import GenGuardError, ResponseError, redact

_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_SPACE_RE = re.compile(r"\s+")
_TITLE_RE = re.compile(r"<title[^>]{0,200}>(.{0,300}?)</title>", re.IGNORECASE | re.DOTALL)
SNIPPET_CHARS = 300
_DECODER = json.JSONDecoder()
#: What ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)`` builds on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class WireError(Exception):
    """A response body did not have the documented shape (internal; becomes ResponseError)."""


def loads(body: bytes) -> Any:
    """Parse JSON; a body that is not JSON (or nests absurdly deep) is a WireError."""
    if not body:
        raise WireError("empty response body")
    try:
        if body[:1] == b"{" and body[1:2] != b"\x00":
            # What ``json.loads`` does for a body it detects as UTF-8, without the detection.
            return _DECODER.decode(body.decode("utf-8", "surrogatepass"))
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise WireError(f"response body is not valid JSON ({type(exc).__name__})") from None


def try_loads(body: bytes) -> Any:
    """Parse JSON or return None (error bodies may be HTML pages or plain text)."""
    try:
        return loads(body)
    except WireError:
        return None


def dumps(obj: object) -> bytes:
    """Compact JSON bytes for a request body."""
    return _ENCODER.encode(obj).encode()


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def as_dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{where} should be an object, got {type_name(value)}")
    return value


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"{where} should be an array, got {type_name(value)}")
    return value


def opt_dict(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return None if value is None else as_dict(value, f"{where}.{key}")


def opt_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any] | None:
    value = obj.get(key)
    return None if value is None else as_list(value, f"{where}.{key}")


def opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise WireError(f"{where}.{key} should be a string, got {type_name(value)}")


def lenient_str(value: object) -> str | None:
    """A string or None: for informational fields where a wrong type is not worth failing."""
    return value if isinstance(value, str) else None


def lenient_int(value: object) -> int | None:
    """A non-negative int (JSON numbers, or digit strings as protobuf int64 may be) or None."""
    if type(value) is int:  # the usual case, told apart from bool in one test
        return value if value >= 0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def b64decode(value: object, where: str) -> bytes:
    """Strict standard base64 (no whitespace, no URL-safe alphabet, correct padding)."""
    if not isinstance(value, str):
        raise WireError(f"{where} should be a base64 string, got {type_name(value)}")
    if not value:
        raise WireError(f"{where} is empty")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise WireError(f"{where} is not valid base64 ({len(value)} chars)") from None


def snippet(body: bytes, *secrets: str | None) -> str:
    """A short, redacted, one-line excerpt of a non-JSON body (an HTML page's title if any)."""
    text = body[: SNIPPET_CHARS * 20].decode("utf-8", "replace")
    title = _TITLE_RE.search(text)
    if title is not None:
        text = title.group(1)
    elif "<" in text:
        text = _TAG_RE.sub(" ", text)
    text = _SPACE_RE.sub(" ", text).strip()
    return shorten(redact(text, *secrets))


def shorten(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def provider_text(value: object, *secrets: str | None) -> str:
    """Text from the wire, made safe for a message: redacted and bounded."""
    if not isinstance(value, str):
        return ""
    return shorten(redact(value, *secrets))


def wire_token(value: object, *secrets: str | None, limit: int = 200) -> str | None:
    """A short identifier from the wire (request id, code, reason, param), or None.

    Redacted like messages, because errors carry these fields into logs and spans.
    """
    if not isinstance(value, str):
        return None
    return shorten(redact(value, *secrets), limit)


def wire_code(value: object, known: frozenset[str], *secrets: str | None) -> str | None:
    """A code from the wire for an error or result field: a ``known`` code as it is, anything
    else redacted like :func:`wire_token`.

    Classification compares the raw value before this is called; keeping known codes
    intact also means a short key can never turn ``moderation_blocked`` into
    ``moderation_bloc***ed`` in a field callers match on.
    """
    if isinstance(value, str) and value in known:
        return value
    return wire_token(value, *secrets)


class UtcDay:
    """``today_of(wall)`` remembered for the day: the UTC date only changes every 86,400
    seconds of POSIX time, and providers ask for it on every call."""

    __slots__ = ("_date", "_day")

    def __init__(self) -> None:
        self._day = -1.0
        self._date: date | None = None

    def __call__(self, wall: float) -> date:
        day, second = divmod(wall, 86400)
        if not 0.001 <= second < 86399.999:  # near midnight: rounding decides, not the day
            return today_of(wall)
        if day != self._day or self._date is None:
            self._date = today_of(wall)
            self._day = day
        return self._date


class Secret:
    """An API key that shows as ``***`` in every repr, so dumping a provider leaks nothing."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class SecretHeaders(dict[str, str]):
    """Request headers holding a credential; the repr masks every value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


class _ResponseErrors:
    """The context manager :func:`response_errors` returns (a class: it is entered on
    every response, and a generator-based one costs several times more)."""

    __slots__ = ("provider", "request_id", "status")

    def __init__(self, provider: str, status: int, request_id: str | None) -> None:
        self.provider = provider
        self.status = status
        self.request_id = request_id

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, GenGuardError):
            return
        status = self.status
        if isinstance(exc, WireError):
            error = ResponseError(
                f"{self.provider}: unexpected response (HTTP {status}): {exc}",
                status=status,
                provider=self.provider,
                request_id=self.request_id,
            )
            error.billing = "uncertain" if 200 <= status < 300 else "rejected"
            raise error from None
        if isinstance(
            exc, KeyError | IndexError | TypeError | ValueError | AttributeError | RecursionError
        ):
            error = ResponseError(
                f"{self.provider}: unexpected response shape (HTTP {status}, {type(exc).__name__})",
                status=status,
                provider=self.provider,
                request_id=self.request_id,
            )
            # a 2xx answer was produced (and billed) even if we cannot read what it cost
            error.billing = "uncertain" if 200 <= status < 300 else "rejected"
            raise error from exc


def response_errors(provider: str, status: int, request_id: str | None) -> _ResponseErrors:
    """Turn WireError (and, as a last resort, a lookup/type error) into ResponseError.

    The last-resort branch keeps the original exception as ``__cause__`` so tests can
    tell a documented shape check from a parser bug.
    """
    return _ResponseErrors(provider, status, request_id)


_F = TypeVar("_F", bound=Callable[..., GenGuardError])


def answered(mapper: _F) -> _F:
    """Mark every error an error-response mapper makes as ``rejected``: the provider
    answered with an error, so the attempt was not billed."""

    @functools.wraps(mapper)
    def wrapper(*args: Any, **kwargs: Any) -> GenGuardError:
        error = mapper(*args, **kwargs)
        if error.billing is None:
            error.billing = "rejected"
        return error

    return cast(_F, wrapper)


_SIZE_RE = re.compile(r"(\d{1,5})\s*[xX×]\s*(\d{1,5})", re.ASCII)


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1536x1024"`` → (1536, 1024); anything else → None."""
    m = _SIZE_RE.fullmatch(size.strip())
    if m is None:
        return None
    width, height = int(m.group(1)), int(m.group(2))
    return (width, height) if width > 0 and height > 0 else None


def nearest_ratio(width: int, height: int, supported: tuple[str, ...]) -> str:
    """The supported ``"W:H"`` ratio closest (in log space) to ``width/height``."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - target)

    return min(supported, key=distance)


__all__ = [
    "Secret",
    "SecretHeaders",
    "UtcDay",
    "WireError",
    "answered",
    "as_dict",
    "as_list",
    "b64decode",
    "dumps",
    "lenient_int",
    "lenient_str",
    "loads",
    "nearest_ratio",
    "opt_dict",
    "opt_list",
    "opt_str",
    "parse_size",
    "provider_text",
    "response_errors",
    "shorten",
    "snippet",
    "try_loads",
    "type_name",
    "wire_code",
    "wire_token",
]
