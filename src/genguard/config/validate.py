"""Raw profile mapping -> ProfileConfig, with every problem as a ConfigError at its exact path.

Used by both the file loader and the builder, so a stack has one way in.
Errors are collected, not raised at the first one: ``config check`` lists them all.
pydantic's messages are rewritten into short ones ("must be >= 1"), and an
unknown key or name gets a "did you mean" suggestion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError, ConfigErrors
from ..options import join, suggest, translate, type_name, unknown_key, validate_model
from .interpolate import interpolate
from .plugins import custom_layer_names, load_custom_layer
from .schema import (
    LAYER_MODELS,
    PROFILE_KEYS,
    PROVIDER_MODELS,
    SECTION_MODELS,
    CustomLayerConfig,
    LayerConfig,
    ProfileConfig,
)
from .secrets import Secret, resolve_secret
from .values import parse_duration

SECRET_KEYS = frozenset({"api_key"})


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

    for key, model_cls in SECTION_MODELS.items():
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
