"""Raw profile mapping -> ProfileConfig, with every problem as a ConfigError at its exact path.

Used by both the file loader and the builder, so a stack has one way in.
Errors are collected, not raised at the first one: ``config check`` lists them all.
pydantic's messages are rewritten into short ones ("must be >= 1"), and an
unknown key or name gets a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ConfigErrors
from .interpolate import interpolate
from .plugins import custom_layer_names, load_custom_layer
from .schema import (
    LAYER_MODELS,
    PROFILE_KEYS,
    PROVIDER_MODELS,
    CustomLayerConfig,
    LayerConfig,
    ProfileConfig,
    Section,
    StateConfig,
    StreamConfig,
    TelemetryConfig,
    TransportConfig,
)
from .secrets import Secret, resolve_secret
from .values import parse_duration

_M = TypeVar("_M", bound=BaseModel)
SECRET_KEYS = frozenset({"api_key"})


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


# -- interpolation over a raw tree -----------------------------------------------------------


def interpolate_tree(
    data: Any,
    env: Mapping[str, str],
    path: str,
    errors: list[ConfigError],
    *,
    base: Path | None = None,
) -> Any:
    """A copy of ``data`` with ``${VAR}`` resolved and ``api_key`` values turned into Secrets."""
    if isinstance(data, str):
        try:
            return interpolate(data, env, path)
        except ConfigError as err:
            errors.append(err)
            return data
    if isinstance(data, Mapping):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            sub = join(path, str(key))
            if key in SECRET_KEYS:
                try:
                    out[key] = resolve_secret(value, env, sub, base=base)
                except ConfigError as err:
                    errors.append(err)
                    out[key] = None
            else:
                out[key] = interpolate_tree(value, env, sub, errors, base=base)
        return out
    if isinstance(data, list | tuple):
        return [
            interpolate_tree(v, env, join(path, i), errors, base=base) for i, v in enumerate(data)
        ]
    return data


# -- layers ------------------------------------------------------------------------------------


def split_layer(item: object, path: str) -> tuple[str, object]:
    """``"retry"`` or ``{"retry": {...}}`` -> ``("retry", options)``."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, Mapping):
        if len(item) != 1:
            keys = ", ".join(map(str, item)) or "nothing"
            raise ConfigError(
                path,
                f"a layer is a name or a mapping of one name to its options, got {keys} "
                "(is the options block indented under the name?)",
            )
        ((name, options),) = item.items()
        if not isinstance(name, str):
            raise ConfigError(path, f"layer name must be a string, got {type_name(name)}")
        return name, {} if options is None else options
    if isinstance(item, LayerConfig):
        raise ConfigError(path, "internal: LayerConfig objects are not raw layer entries")
    raise ConfigError(path, f"a layer is a name or a one-key mapping, got {type_name(item)}")


def validate_layer(
    item: object, path: str, errors: list[ConfigError], entry_points: Callable[[], set[str]]
) -> LayerConfig | None:
    try:
        name, options = split_layer(item, path)
    except ConfigError as err:
        errors.append(err)
        return None
    model = LAYER_MODELS.get(name)
    if model is not None:
        return validate_model(model, options, join(path, name), errors)
    customs = entry_points()
    if name in customs:
        if not isinstance(options, Mapping):
            errors.append(
                ConfigError(join(path, name), f"must be a mapping, got {type_name(options)}")
            )
            return None
        checked = _validate_custom_options(name, options, join(path, name), errors)
        if checked is None:
            return None
        return CustomLayerConfig(name=name, options=checked)
    known = [*LAYER_MODELS, *sorted(customs)]
    errors.append(
        ConfigError(
            path,
            f"unknown layer {name!r}{suggest(name, known)}; known: {', '.join(known)} "
            "(more come from packages with a 'genguard.layers' entry point)",
        )
    )
    return None


def _validate_custom_options(
    name: str, options: Mapping[str, Any], path: str, errors: list[ConfigError]
) -> dict[str, Any] | None:
    """Options checked by the plugin's ``config_model`` when it declares one."""
    try:
        factory = load_custom_layer(name)
    except ConfigError as err:
        errors.append(ConfigError(path, err.reason))
        return None
    model = getattr(factory, "config_model", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        checked = validate_model(model, options, path, errors)
        return (
            None
            if checked is None
            else {k: getattr(checked, k) for k in type(checked).model_fields}
        )
    return dict(options)


# -- the profile -------------------------------------------------------------------------------


def validate_profile(
    name: str,
    raw: Mapping[str, Any],
    *,
    path: str,
    env: Mapping[str, str],
    base: Path | None = None,
    entry_points: Callable[[], set[str]] = custom_layer_names,
) -> ProfileConfig:
    """Validate one profile mapping (``extends`` already applied); raise ConfigErrors."""
    errors: list[ConfigError] = []
    for key in raw:
        if key not in PROFILE_KEYS:
            errors.append(unknown_key(path, str(key), PROFILE_KEYS))
    data = interpolate_tree(
        {k: v for k, v in raw.items() if k in PROFILE_KEYS and k != "extends"},
        env,
        path,
        errors,
        base=base,
    )
    fields: dict[str, Any] = {"name": name}
    failed = False

    provider = data.get("provider")
    if provider is None:
        errors.append(ConfigError(join(path, "provider"), "required"))
        failed = True
    elif not isinstance(provider, Mapping):
        errors.append(
            ConfigError(join(path, "provider"), f"must be a mapping, got {type_name(provider)}")
        )
        failed = True
    else:
        kind = provider.get("type")
        model = PROVIDER_MODELS.get(kind) if isinstance(kind, str) else None
        if kind is None:
            errors.append(
                ConfigError(
                    join(path, "provider.type"), f"required: one of {', '.join(PROVIDER_MODELS)}"
                )
            )
            failed = True
        elif model is None:
            errors.append(
                ConfigError(
                    join(path, "provider.type"),
                    f"unknown provider {kind!r}{suggest(str(kind), PROVIDER_MODELS)}; "
                    f"known: {', '.join(PROVIDER_MODELS)}",
                )
            )
            failed = True
        else:
            if "api_key" in provider and provider["api_key"] is None:
                # the secret's own error is already recorded: a stand-in keeps it from
                # being reported a second time as "required"
                provider = {**provider, "api_key": Secret("", source="value")}
                failed = True
            checked = validate_model(model, provider, join(path, "provider"), errors)
            failed |= checked is None
            fields["provider"] = checked

    if data.get("deadline") is not None:
        try:
            deadline = parse_duration(data["deadline"])
            if deadline <= 0:
                raise ValueError("must be > 0")
            fields["deadline"] = deadline
        except ValueError as exc:
            errors.append(ConfigError(join(path, "deadline"), str(exc)))
            failed = True

    if data.get("description") is not None:
        if isinstance(data["description"], str):
            fields["description"] = data["description"]
        else:
            errors.append(ConfigError(join(path, "description"), "must be a string"))

    layers_raw = data.get("layers", [])
    layers: list[LayerConfig] = []
    if layers_raw is None:
        layers_raw = []
    if not isinstance(layers_raw, list):
        errors.append(
            ConfigError(join(path, "layers"), f"must be a list, got {type_name(layers_raw)}")
        )
        failed = True
    else:
        cached: set[str] | None = None

        def names() -> set[str]:
            nonlocal cached
            if cached is None:
                cached = entry_points()
            return cached

        for index, item in enumerate(layers_raw):
            layer = validate_layer(item, join(join(path, "layers"), index), errors, names)
            if layer is None:
                failed = True
            else:
                layers.append(layer)
    fields["layers"] = tuple(layers)

    sections: dict[str, type[Section]] = {
        "state": StateConfig,
        "telemetry": TelemetryConfig,
        "transport": TransportConfig,
        "stream": StreamConfig,
    }
    for key, model_cls in sections.items():
        if data.get(key) is not None:
            section = validate_model(model_cls, data[key], join(path, key), errors)
            failed |= section is None
            fields[key] = section

    checks = data.get("ignore_checks")
    if checks is not None:
        from .checks import CHECK_CODES

        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            errors.append(ConfigError(join(path, "ignore_checks"), "must be a list of check codes"))
        else:
            for index, code in enumerate(checks):
                if code not in CHECK_CODES:
                    errors.append(
                        ConfigError(
                            join(join(path, "ignore_checks"), index),
                            f"unknown check {code!r}{suggest(code, CHECK_CODES)}; "
                            f"known: {', '.join(CHECK_CODES)}",
                        )
                    )
            fields["ignore_checks"] = tuple(checks)

    prices = data.get("prices")
    if prices is not None:
        from ..catalogue.prices import default_prices

        try:
            default_prices().with_overrides(prices, join(path, "prices"))
        except ConfigError as exc:
            errors.append(exc)
        else:
            fields["prices"] = dict(prices)

    if errors or failed:
        raise ConfigErrors(errors or [ConfigError(path, "invalid profile")])
    return ProfileConfig(**{k: v for k, v in fields.items() if v is not None})


__all__ = [
    "SECRET_KEYS",
    "interpolate_tree",
    "join",
    "split_layer",
    "suggest",
    "translate",
    "type_name",
    "unknown_key",
    "validate_layer",
    "validate_model",
    "validate_profile",
]
