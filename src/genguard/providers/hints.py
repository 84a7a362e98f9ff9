"""Server retry hints, parsed once for every provider.

Servers say how long to wait in several dialects: ``Retry-After`` (RFC 9110:
delay-seconds or an HTTP-date), OpenAI's ``retry-after-ms`` and Go-style
``x-ratelimit-reset-*`` durations, Google's ``RetryInfo.retryDelay`` (a protobuf
Duration) and the "Please retry in 32.4s." sentence in Gemini error messages.
Every parser here returns a finite number of seconds ``>= 0`` or ``None``, never
raises, and clamps absurd values to :data:`MAX_HINT_SECONDS`, so no caller has to
re-validate what comes off the wire. Whether a long hint is worth waiting for is
the retry layer's decision, not the parser's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

#: Ceiling for any parsed hint: one week. Long enough to keep real information
#: (a per-day quota's ``retryDelay`` is up to 24 h, proxies send hours), short
#: enough that arithmetic on it never overflows or produces absurd deadlines.
MAX_HINT_SECONDS = 7 * 24 * 3600.0

#: Hint source names, as carried on errors (``hint_source``) and observer events.
SOURCE_RETRY_AFTER = "retry-after"
SOURCE_RETRY_AFTER_MS = "retry-after-ms"
SOURCE_RETRY_INFO = "retry-info"
SOURCE_RETRY_IN_MESSAGE = "retry-in-message"
SOURCE_RATELIMIT_RESET = "x-ratelimit-reset"

_MONTHS = {
    name: index + 1
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIME = r"(\d{2}):(\d{2}):(\d{2})"
# IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
_IMF_RE = re.compile(
    rf"{_DAY}, (\d{{2}}) {_MONTH} (\d{{4}}) {_TIME} (?:gmt|utc)", re.IGNORECASE | re.ASCII
)
# obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
_RFC850_RE = re.compile(
    rf"{_LONG_DAY}, (\d{{2}})-{_MONTH}-(\d{{2}}) {_TIME} (?:gmt|utc)", re.IGNORECASE | re.ASCII
)
# obsolete asctime: Sun Nov  6 08:49:37 1994 (implicitly UTC, day space-padded)
_ASCTIME_RE = re.compile(
    rf"{_DAY} {_MONTH} ( \d|\d{{2}}) {_TIME} (\d{{4}})", re.IGNORECASE | re.ASCII
)
_DECIMAL_RE = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_PROTO_DURATION_RE = re.compile(r"(\d+)(?:\.(\d{1,9}))?s", re.ASCII)
_GO_PART_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_RETRY_IN_MESSAGE_RE = re.compile(
    r"(?:retry|try again) in ((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)",
    re.IGNORECASE | re.ASCII,
)
# Seconds in a day and the days before each month (non-leap), for a tz-free epoch.
_DAYS_BEFORE_MONTH = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_FIFTY_YEARS = 50 * 365.2425 * 86400
_MAX_DIGITS = 12  # > 12 digits of seconds is far past the ceiling: clamp without int()


class RetryHint(NamedTuple):
    """A server-requested wait and where it came from (e.g. ``"retry-after"``)."""

    seconds: float
    source: str


def _clamp(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_HINT_SECONDS)


def _decimal_seconds(text: str, scale: float = 1.0) -> float | None:
    """Non-negative decimal (``"120"``, leniently ``"1.5"``) times ``scale``; no signs,
    exponents, ``nan`` or ``inf``."""
    if not _DECIMAL_RE.fullmatch(text):
        return None
    whole = text.split(".", 1)[0]
    if len(whole) > _MAX_DIGITS:
        return MAX_HINT_SECONDS
    return _clamp(float(text) * scale)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 for a proleptic Gregorian date (no datetime, no overflow)."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month - 1] + day - 1
    if month > 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        days += 1
    return days - 719162  # days from 0001-01-01 to 1970-01-01


def _epoch(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> float | None:
    if not (1 <= day <= 31 and hh <= 23 and mm <= 59 and ss <= 60 and year >= 1):
        return None
    return float(_days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss)


def _year_of_epoch(epoch: float) -> int:
    return 1970 + int(epoch // 31556952)  # mean Gregorian year; exact enough for the 50-year rule


def parse_http_date(value: str, now: float) -> float | None:
    """Epoch seconds of an HTTP-date in any of RFC 9110's three forms, else None.

    The obsolete RFC 850 form's two-digit year follows the 50-year rule relative
    to ``now``: a date more than 50 years in the future means the most recent past
    year with those last two digits.
    """
    if (m := _IMF_RE.fullmatch(value)) is not None:
        day, mon, year, hh, mi, ss = m.groups()
        return _epoch(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mi), int(ss))
    if (m := _ASCTIME_RE.fullmatch(value)) is not None:
        mon, day, hh, mi, ss, year = m.groups()
        return _epoch(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mi), int(ss))
    if (m := _RFC850_RE.fullmatch(value)) is not None:
        day, mon, yy, hh, mi, ss = m.groups()
        if not math.isfinite(now):
            return None
        args = (_MONTHS[mon.lower()], int(day), int(hh), int(mi), int(ss))
        current = _year_of_epoch(now)
        # The latest year ending in ``yy`` that is at most 50 years in the future.
        year = current - current % 100 + int(yy) + 100
        while year > 0:
            when = _epoch(year, *args)
            if when is None or when - now <= _FIFTY_YEARS:
                return when
            year -= 100
    return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value received at wall time ``now``.

    Accepts delay-seconds (leniently also ``"1.5"``) and all three HTTP-date
    forms; a date in the past gives 0. Negative, non-finite, exponent or garbage
    values give None (use backoff). A comma-joined value uses its first element.
    """
    if not value:
        return None
    text = value.strip(" \t")
    if not text or len(text) > 64:
        return None
    seconds = _decimal_seconds(text)
    if seconds is not None:
        return seconds
    when = parse_http_date(text, now)
    if when is None:
        if "," in text:  # several values joined: the first delay-seconds, if any
            return _decimal_seconds(text.split(",", 1)[0].strip(" \t"))
        return None
    if not math.isfinite(now):
        return None
    return _clamp(max(0.0, when - now))


def parse_retry_after_ms(value: str | None) -> float | None:
    """Seconds from the non-standard ``retry-after-ms`` header (milliseconds)."""
    if not value:
        return None
    text = value.strip(" \t")
    if len(text) > 64:
        return None
    return _decimal_seconds(text, 0.001)


def parse_proto_duration(value: object) -> float | None:
    """Seconds from a protobuf JSON Duration (``"32s"``, ``"0.5s"``, ``"45.837906927s"``)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    m = _PROTO_DURATION_RE.fullmatch(value.strip())
    if m is None:
        return None
    whole, frac = m.groups()
    if len(whole) > _MAX_DIGITS:
        return MAX_HINT_SECONDS
    return _clamp(int(whole) + (int(frac) / 10 ** len(frac) if frac else 0.0))


def parse_go_duration(value: str | None) -> float | None:
    """Seconds from a Go duration as in ``x-ratelimit-reset-*`` (``"6m0s"``, ``"1h2m3.5s"``,
    ``"12ms"``, ``"0"``), read left to right."""
    if not value:
        return None
    text = value.strip(" \t")
    if text == "0":
        return 0.0
    if not text or len(text) > 64:
        return None
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _GO_PART_RE.match(text, pos)
        if m is None:
            return None
        number, unit = m.groups()
        if len(number.split(".", 1)[0]) > _MAX_DIGITS:
            return MAX_HINT_SECONDS
        total += float(number) * _GO_UNITS[unit]
        pos = m.end()
    return _clamp(total)


def parse_retry_in_message(message: object) -> float | None:
    """Seconds from "Please retry in 32.4s." / "Please try again in 1m12s." in an error text."""
    if not isinstance(message, str):
        return None
    m = _RETRY_IN_MESSAGE_RE.search(message)
    if m is None:
        return None
    return parse_go_duration(m.group(1))


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """An integer header (optionally negative, ASCII digits only), or None if absent or bad."""
    value = headers.get(name)
    if value is None:
        return None
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        return None
    return int(text)


def ratelimit_reset_hint(headers: Mapping[str, str]) -> float | None:
    """Wait implied by ``x-ratelimit-reset-*``: the longest reset among exhausted buckets.

    A reset is when a bucket is *full* again, so it overstates the wait. It is used
    for buckets whose ``remaining`` is 0; when no bucket reports ``remaining`` at all,
    the longest reset is used; when every reported bucket has room, there is no hint.
    """
    exhausted: float | None = None
    unknown: float | None = None
    reported = False
    for bucket in ("requests", "tokens", "images"):
        reset = parse_go_duration(headers.get(f"x-ratelimit-reset-{bucket}"))
        remaining = header_int(headers, f"x-ratelimit-remaining-{bucket}")
        reported = reported or remaining is not None
        if reset is None:
            continue
        if remaining is not None and remaining <= 0:
            exhausted = reset if exhausted is None else max(exhausted, reset)
        elif remaining is None:
            unknown = reset if unknown is None else max(unknown, reset)
    if exhausted is not None:
        return exhausted
    return None if reported else unknown


def retry_hint_from_headers(headers: Mapping[str, str], now: float) -> RetryHint | None:
    """The winning header hint: ``retry-after-ms`` > ``Retry-After`` > ``x-ratelimit-reset-*``.

    ``headers`` must have lower-case names (as ``RawResponse.headers`` does); ``now``
    is the wall time the response was received, for HTTP-dates.
    """
    seconds = parse_retry_after_ms(headers.get("retry-after-ms"))
    if seconds is not None:
        return RetryHint(seconds, SOURCE_RETRY_AFTER_MS)
    seconds = parse_retry_after(headers.get("retry-after"), now)
    if seconds is not None:
        return RetryHint(seconds, SOURCE_RETRY_AFTER)
    seconds = ratelimit_reset_hint(headers)
    if seconds is not None:
        return RetryHint(seconds, SOURCE_RATELIMIT_RESET)
    return None


__all__ = [
    "MAX_HINT_SECONDS",
    "SOURCE_RATELIMIT_RESET",
    "SOURCE_RETRY_AFTER",
    "SOURCE_RETRY_AFTER_MS",
    "SOURCE_RETRY_INFO",
    "SOURCE_RETRY_IN_MESSAGE",
    "RetryHint",
    "header_int",
    "parse_go_duration",
    "parse_http_date",
    "parse_proto_duration",
    "parse_retry_after",
    "parse_retry_after_ms",
    "parse_retry_in_message",
    "ratelimit_reset_hint",
    "retry_hint_from_headers",
]
