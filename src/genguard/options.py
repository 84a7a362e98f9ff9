"""Options: each layer, store and provider declares its options once, as one frozen model.

An options model sits beside the code that uses it and is the only home of the
option's default, bounds, unit and doc. The layer's constructor derives its settings
from it, the file loader validates a file's section against it, the Python builder
produces it, and the reference in docs/configuration.md is generated from it.

This module is neutral ground (layers and the config package both import it): the
one grammar of durations (``250ms``, ``1m30s``), rates (``60/min``, ``100/days``) and
sizes (``64MiB``), and the translation of a model's validation errors into
``ConfigError``s with the path of the bad key and a short message.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from .errors import ConfigError, ConfigErrors

_M = TypeVar("_M", bound=BaseModel)

# -- the grammar of values ------------------------------------------------------------------

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


#: Periods a rate may name, long and short, singular and plural: ``60/min``, ``100/days``.
RATE_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_RATE_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}
_PERIOD = re.compile(r"((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)?\s*([a-z]+)")


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


def _period(text: str, value: object) -> float:
    """Seconds in a rate's period: ``min``, ``2 minutes``, ``30s``, ``1m30s``."""
    if text in RATE_UNITS:
        return RATE_UNITS[text]
    match = _PERIOD.fullmatch(text)
    if match is not None and match.group(2) in RATE_UNITS:
        return float(match.group(1) or 1.0) * RATE_UNITS[match.group(2)]
    try:
        return parse_duration(text)
    except ValueError:
        unit = match.group(2) if match is not None else text
        raise ValueError(
            f"invalid rate {value!r}: unknown unit {unit!r} (use s, min, h, day or a "
            "duration like 30s)"
        ) from None


def parse_rate(value: object) -> RateSpec:
    """The one rate grammar, for Python and files alike: ``60/min``, ``5/s``, ``1000/h``,
    ``100/days``, ``10/30s``, ``1/500ms``, ``2.5 / 2 minutes``, a bare number (per second),
    or an object with ``amount`` and ``per`` (or ``per_seconds``). Raises ``ValueError``."""
    if isinstance(value, RateSpec):
        return value
    amount: object
    per: object
    if _is_number(value):
        amount, per = value, 1.0
    elif isinstance(value, str):
        text = value.strip().lower()
        head, sep, tail = text.partition("/")
        head, tail = head.strip(), tail.strip()
        if not _NUMBER.fullmatch(head) or (sep and not tail):
            raise ValueError(
                f"invalid rate {value!r}: use amount/period, e.g. 60/min, 5/s, 1000/h, 10/30s"
            )
        amount = float(head)
        per = _period(tail, value) if sep else 1.0
    elif (
        not isinstance(value, bool)
        and hasattr(value, "amount")
        and (hasattr(value, "per") or hasattr(value, "per_seconds"))
    ):
        amount = getattr(value, "amount", None)
        per = getattr(value, "per", None) or getattr(value, "per_seconds", None)
    else:
        raise ValueError(f"must be a rate such as 60/min, got {type(value).__name__}")
    if not (_is_number(amount) and math.isfinite(float(amount)) and float(amount) > 0):  # type: ignore[arg-type]
        raise ValueError(f"invalid rate {value!r}: the amount must be > 0")
    if not (_is_number(per) and math.isfinite(float(per)) and float(per) > 0):  # type: ignore[arg-type]
        raise ValueError(f"invalid rate {value!r}: the period must be > 0")
    return RateSpec(float(amount), float(per))  # type: ignore[arg-type]


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


# -- validation errors -> ConfigError ----------------------------------------------------------


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'retry'?)`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def unknown_key(path: str, key: str, known: Iterable[str]) -> ConfigError:
    known = list(known)
    hint = suggest(key, known)
    if not hint:
        hint = f" (known: {', '.join(known)})"
    return ConfigError(join(path, key), f"unknown key{hint}")


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


# -- pydantic errors -> ConfigError -----------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation may hold (through Optional, unions, tuples)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
        return found
    return []


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        candidates = _models_in(field.annotation)
        current = candidates[0] if candidates else None
    return current


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    got = f", got {type_name(value)}" if kind.endswith("_type") else ""
    simple = {
        "missing": "required",
        "int_type": "must be an integer",
        "int_parsing": f"must be an integer, got {value!r}",
        "int_from_float": f"must be a whole number, got {value!r}",
        "float_type": "must be a number",
        "float_parsing": f"must be a number, got {value!r}",
        "bool_type": "must be true or false",
        "bool_parsing": f"must be true or false, got {value!r}",
        "string_type": "must be a string",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "finite_number": "must be a finite number",
        "frozen_instance": "is read-only",
        "string_type_key": "keys must be strings",
    }
    if kind in simple:
        return simple[kind] + got
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [part.strip(" '") for part in expected.replace(" or ", ", ").split(",")]
        hint = suggest(value, options) if isinstance(value, str) else ""
        return f"must be one of {expected}, got {value!r}{hint}"
    if kind in ("too_short", "string_too_short"):
        minimum = ctx.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"must have at least {minimum} items"
    if kind in ("value_error", "assertion_error"):
        error_obj = ctx.get("error")
        return str(error_obj) if error_obj is not None else str(error["msg"])
    if kind == "is_instance_of":
        return f"has the wrong type ({type_name(value)})"
    return str(error["msg"])


def translate(exc: ValidationError, model: type[BaseModel], path: str) -> list[ConfigError]:
    """One ConfigError per pydantic error, at ``path`` plus the error's location."""
    out: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        loc: list[str | int] = []
        for part in error["loc"]:
            # Union branches show up as their type names (e.g. "float", "function-after[...]").
            if isinstance(part, str) and ("[" in part or part in _UNION_TAGS):
                continue
            loc.append(part)
        where = path
        for part in loc:
            where = join(where, part)
        if error["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            known = list(parent.model_fields) if parent is not None else []
            err = unknown_key(_parent(where), str(loc[-1]), known)
        else:
            err = ConfigError(where, _message(error))
        if (err.path, err.reason) not in seen:
            seen.add((err.path, err.reason))
            out.append(err)
    return _drop_union_noise(out)


_UNION_TAGS = frozenset({"float", "int", "str", "bool", "none", "tuple", "list", "dict"})


def _parent(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def _drop_union_noise(errors: list[ConfigError]) -> list[ConfigError]:
    """For ``X | None`` fields pydantic reports each branch; keep the most useful message."""
    by_path: dict[str, list[ConfigError]] = {}
    for err in errors:
        by_path.setdefault(err.path, []).append(err)
    out: list[ConfigError] = []
    for err in errors:
        group = by_path[err.path]
        if (
            len(group) > 1
            and err.reason.startswith("must be a ")
            and any(not e.reason.startswith("must be a ") for e in group)
        ):
            continue
        out.append(err)
    return out


def validate_model(
    model: type[_M], data: object, path: str, errors: list[ConfigError]
) -> _M | None:
    """``model`` from ``data``, or None with the problems appended to ``errors``."""
    if not isinstance(data, Mapping):
        errors.append(ConfigError(path, f"must be a mapping, got {type_name(data)}"))
        return None
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors.extend(translate(exc, model, path))
        return None
    except ConfigError as exc:  # a model whose constructor speaks ConfigError (StreamOptions)
        for err in exc.errors if isinstance(exc, ConfigErrors) else [exc]:
            sub = err.path.partition(".")[2]
            errors.append(ConfigError(join(path, sub) if sub else path, err.reason))
        return None


# -- options models -------------------------------------------------------------------------


class Options(BaseModel):
    """Base of every options model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    #: One line for the generated reference.
    doc: ClassVar[str] = ""

    @classmethod
    def of(cls, options: Self | None, fields: Mapping[str, Any], path: str) -> Self:
        """``options`` (the defaults when None) with ``fields`` applied, validated as a whole:
        a bad value is a ``ConfigError`` (``ConfigErrors`` for several) whose path is
        ``path`` plus the field's name."""
        if options is not None and not isinstance(options, cls):
            raise ConfigError(path, f"must be a {cls.__name__}, got {type(options).__name__}")
        if options is not None and not fields:
            return options
        data = {**(options.model_dump(by_alias=False) if options is not None else {}), **fields}
        errors: list[ConfigError] = []
        checked = validate_model(cls, data, path, errors)
        if checked is None:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
        return checked


class LayerOptions(Options):
    """Options of one entry of a profile's ``layers``; ``layer_name`` is the name written there."""

    layer_name: ClassVar[str] = ""


__all__ = [
    "RATE_UNITS",
    "Duration",
    "Int",
    "LayerOptions",
    "Number",
    "Options",
    "Rate",
    "RateSpec",
    "Size",
    "format_duration",
    "format_rate",
    "format_size",
    "join",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "suggest",
    "translate",
    "type_name",
    "unknown_key",
    "validate_model",
]
