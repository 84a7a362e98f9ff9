"""The reference part of docs/configuration.md, generated from the schema.

A test compares the file with ``render()``, so the docs cannot drift from the
code. Regenerate with ``python -m genguard.reference docs/configuration.md``.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config.checks import CHECK_CODES
from .config.schema import (
    LAYER_MODELS,
    PROVIDER_MODELS,
    BackoffConfig,
    ClassifierConfig,
    LogsConfig,
    PrometheusConfig,
    RetryBudgetConfig,
    Section,
    StateConfig,
    StreamConfig,
    TelemetryConfig,
    TransportConfig,
)
from .config.secrets import Secret
from .config.values import RateSpec, format_duration, format_rate, format_size

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m genguard.reference) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        names = {getattr(m, "func", None) for m in meta}
        for func, label in (
            ("parse_duration", "duration"),
            ("parse_rate", "rate"),
            ("parse_size", "size"),
        ):
            if any(getattr(n, "__name__", "") == func for n in names):
                return label
        if base is Secret:
            return "secret"
        return _type(base)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        text = " or ".join(_type(a) for a in args)
        return f"{text} or null" if len(args) < len(typing.get_args(annotation)) else text
    if origin is typing.Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (tuple, list):
        return f"list of {_type(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str:
        return "string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return str(annotation)


def _field_type(field: Any) -> str:
    """Type label; pydantic keeps a top-level Annotated's validators in ``metadata``."""
    for meta in field.metadata:
        func = getattr(getattr(meta, "func", None), "__name__", "")
        label = {"parse_duration": "duration", "parse_rate": "rate", "parse_size": "size"}.get(func)
        if label:
            return label
    if field.annotation is Secret:
        return "secret"
    return _type(field.annotation)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        return "`{}`" if value == {} else f"`{value!r}`"
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    label = _field_type(field)
    if isinstance(value, RateSpec):
        return f"`{format_rate(value)}`"
    if "duration" in label and isinstance(value, int | float):
        return f"`{format_duration(float(value))}`"
    if "size" in label and isinstance(value, int):
        return f"`{format_size(value)}`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`" if value else "`[]`"
    return f"`{value}`"


def _constraints(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        min_length = getattr(meta, "min_length", None)
        if min_length:
            parts.append("not empty")
    return f" ({', '.join(parts)})" if parts else ""


def table(model: type[Section], *, skip: tuple[str, ...] = ()) -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        kind = _field_type(field) + _constraints(field)
        rows.append(f"| `{name}` | {kind} | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows)


def render() -> str:
    """The generated reference, between the BEGIN and END markers."""
    out = [BEGIN, "", "## Reference", ""]
    out += ["### Profile keys", "", _profile_table(), ""]
    out += ["### `provider`", ""]
    for name, model in PROVIDER_MODELS.items():
        out += [f"#### `type: {name}`", "", model.doc, "", table(model), ""]
    out += ["### `layers`", ""]
    out += [
        "Each entry is a bare name (`- telemetry`) or a name with options "
        "(`- retry: {attempts: 3}`). Listed in the recommended order, outermost first.",
        "",
    ]
    for name, model in LAYER_MODELS.items():
        out += [f"#### `{name}`", "", model.doc, "", table(model), ""]
    for title, model in (
        ("`retry.backoff`", BackoffConfig),
        ("`retry.budget`", RetryBudgetConfig),
        ("`safety.input` / `safety.output`", ClassifierConfig),
    ):
        out += [f"#### {title}", "", model.doc, "", table(model), ""]
    for title, model in (
        ("`state`", StateConfig),
        ("`telemetry`", TelemetryConfig),
        ("`telemetry.prometheus`", PrometheusConfig),
        ("`telemetry.logs`", LogsConfig),
        ("`transport`", TransportConfig),
        ("`stream`", StreamConfig),
    ):
        out += [f"### {title}", "", model.doc, "", table(model), ""]
    out += ["### Order checks", "", "| code | why it is a warning |", "|---|---|"]
    out += [f"| `{code}` | {why} |" for code, why in CHECK_CODES.items()]
    out += ["", END]
    return "\n".join(out)


def _profile_table() -> str:
    from .config.schema import ProfileConfig

    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows.append(
        "| `extends` | string or list of string | null | "
        "Profiles this one builds on (applied in order, then this one). |"
    )
    for name, field in ProfileConfig.model_fields.items():
        if name == "name":
            continue
        kind = _field_type(field) + _constraints(field)
        if name == "provider":
            kind = "mapping, chosen by `type`"
        rows.append(f"| `{name}` | {kind} | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows)


def splice(document: str) -> str:
    """``document`` with its generated block replaced by a fresh ``render()``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError("the document has no generated-reference markers")
    return document[:start] + render() + document[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m genguard.reference docs/configuration.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    path.write_text(splice(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
