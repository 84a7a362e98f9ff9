"""Human-friendly values in config files: durations, rates and byte sizes.

Every parser has a formatter, and ``parse(format(x)) == x``, so ``config show``
prints values a person can read and the file format can read back.
Parsers raise ``ValueError`` with a message fit to follow a config path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(ms|s|m|h)")
_NUMBER = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(value: object) -> float:
    """Seconds from ``250ms``, ``1.5s``, ``2m``, ``1h``, ``1m30s`` or a bare number of seconds."""
    if _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("-"):
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        else:
            pos = 0
            seconds = 0.0
            seen: set[str] = set()
            for match in _DURATION_PART.finditer(text):
                if match.start() != pos or match.group(2) in seen:
                    break
                seen.add(match.group(2))
                seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                pos = match.end()
            if pos == 0 or pos != len(text):
                raise ValueError(
                    f"invalid duration {value!r}: use a number with a unit, "
                    "e.g. 250ms, 1.5s, 2m, 1h, 1m30s"
                )
    else:
        raise ValueError(f"must be a duration such as 1.5s or 250ms, got {type(value).__name__}")
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r}: must be finite")
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``250ms``, ``1.5s``, ``2m``, ``1h`` (parses back equal)."""
    candidates = []
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and (seconds / size).is_integer():
            candidates.append(f"{_num(seconds / size)}{unit}")
    if 0 < seconds < 1:
        candidates.append(f"{_num(seconds * 1000)}ms")
    for text in candidates:
        try:
            if parse_duration(text) == seconds:
                return text
        except ValueError:
            continue
    return f"{_num(seconds)}s"


def _num(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


_RATE_UNITS: dict[str, float] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}


@dataclass(frozen=True, slots=True)
class RateSpec:
    """``amount`` units per ``per`` seconds, e.g. ``60/min`` is ``RateSpec(60, 60.0)``."""

    amount: float
    per: float

    @property
    def per_second(self) -> float:
        return self.amount / self.per

    def __str__(self) -> str:
        return format_rate(self)


def parse_rate(value: object) -> RateSpec:
    """A rate from ``60/min``, ``5/s``, ``1000/h``, ``10/30s`` or a number per second."""
    if isinstance(value, RateSpec):
        return value
    if _is_number(value):
        amount, per = float(value), 1.0  # type: ignore[arg-type]
    elif isinstance(value, str):
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            amount, per = float(text), 1.0
        else:
            head, sep, tail = text.partition("/")
            tail = tail.strip()
            if not sep or not _NUMBER.fullmatch(head.strip()) or not tail:
                raise ValueError(
                    f"invalid rate {value!r}: use count/period, e.g. 60/min, 5/s, 1000/h, 10/30s"
                )
            amount = float(head.strip())
            if tail in _RATE_UNITS:
                per = _RATE_UNITS[tail]
            else:
                try:
                    per = parse_duration(tail)
                except ValueError:
                    raise ValueError(
                        f"invalid rate {value!r}: unknown period {tail!r} "
                        "(use s, min, h, day or a duration like 30s)"
                    ) from None
    else:
        raise ValueError(f"must be a rate such as 60/min, got {type(value).__name__}")
    if not math.isfinite(amount) or amount <= 0:
        raise ValueError(f"invalid rate {value!r}: the count must be > 0")
    if not math.isfinite(per) or per <= 0:
        raise ValueError(f"invalid rate {value!r}: the period must be > 0")
    return RateSpec(amount, per)


def format_rate(rate: RateSpec) -> str:
    name = _RATE_NAMES.get(rate.per)
    return f"{_num(rate.amount)}/{name or format_duration(rate.per)}"


_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_size(value: object) -> int:
    """Bytes from ``512``, ``64KB``, ``1.5MB`` (powers of 1000) or ``64MiB`` (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if match is None or match.group(2) not in _SIZE_UNITS:
            raise ValueError(f"invalid size {value!r}: use bytes or a unit, e.g. 512KB, 64MiB, 1GB")
        exact = float(match.group(1)) * _SIZE_UNITS[match.group(2)]
        if not exact.is_integer():
            raise ValueError(f"invalid size {value!r}: not a whole number of bytes")
        size = int(exact)
    else:
        raise ValueError(f"must be a size such as 64MiB, got {type(value).__name__}")
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must not be negative")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


#: An integer; ``true``/``false`` are refused rather than read as 1/0.
Int = Annotated[int, BeforeValidator(_no_bool)]
#: A number; ``true``/``false`` are refused rather than read as 1/0.
Number = Annotated[float, BeforeValidator(_no_bool)]
#: Seconds, written as ``250ms``, ``1.5s``, ``2m`` or a number of seconds.
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
#: A rate, written as ``60/min``, ``5/s``, ``10/30s``.
Rate = Annotated[RateSpec, BeforeValidator(parse_rate), PlainSerializer(format_rate)]
#: Bytes, written as ``512KB``, ``64MiB`` or a number of bytes.
Size = Annotated[int, BeforeValidator(parse_size), PlainSerializer(format_size)]

__all__ = [
    "Duration",
    "Int",
    "Number",
    "Rate",
    "RateSpec",
    "Size",
    "format_duration",
    "format_rate",
    "format_size",
    "parse_duration",
    "parse_rate",
    "parse_size",
]
