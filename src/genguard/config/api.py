"""``check`` and ``show``: what ``genguard config check`` and ``config show`` print.

``check`` never raises for a bad config: it returns every problem, errors and
order warnings (:class:`ConfigWarning`) alike, so a CI job sees them all at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from ..errors import ConfigError, ConfigErrors
from .checks import ConfigWarning, check_order
from .factory import layer_available
from .interpolate import WHOLE_REF
from .loader import load_config, resolve_profile
from .schema import CustomLayerConfig, ProfileConfig, Section, layer_name
from .secrets import MASK, Secret
from .validate import SECRET_KEYS


def _flatten(error: ConfigError) -> list[ConfigError]:
    return list(error.errors) if isinstance(error, ConfigErrors) else [error]


def check(
    path: str | os.PathLike[str],
    profile: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    offline: bool = False,
) -> list[ConfigError]:
    """Every problem in the file (or in ``profile`` only): errors, then ConfigWarnings.

    An empty list means the config is valid. Errors are the items that are not
    ``ConfigWarning``; exit non-zero when there is any (see ``has_errors``).
    ``offline`` checks everything but the secrets: their variables and files
    need not exist (a CI job without production keys), their form is still checked.
    """
    try:
        config = load_config(path, env=env)
    except ConfigError as exc:
        return _flatten(exc)
    if offline:
        config = replace(
            config, profiles={k: _stand_in_secrets(v) for k, v in config.profiles.items()}
        )
    names = [profile] if profile is not None else list(config.profiles)
    errors: list[ConfigError] = []
    found_warnings: list[ConfigError] = []
    for name in names:
        try:
            resolved = resolve_profile(config, name, env=env)
        except ConfigError as exc:
            errors.extend(_flatten(exc))
            continue
        for index, layer in enumerate(resolved.layers):
            if isinstance(layer, CustomLayerConfig):
                continue
            try:
                layer_available(
                    layer_name(layer), f"profiles.{name}.layers[{index}].{layer_name(layer)}"
                )
            except ConfigError as exc:
                errors.append(exc)
        found_warnings.extend(check_order(resolved, f"profiles.{name}"))
    return errors + found_warnings


def _stand_in_secrets(data: Any) -> Any:
    """``data`` with each well-formed secret reference replaced by a stand-in Secret."""
    if isinstance(data, Mapping):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if key in SECRET_KEYS and _secret_ref(value) is not None:
                out[key] = Secret("", source="value", ref=f"offline {_secret_ref(value)}")
            else:
                out[key] = _stand_in_secrets(value)
        return out
    if isinstance(data, list):
        return [_stand_in_secrets(item) for item in data]
    return data


def _secret_ref(value: object) -> str | None:
    """What a secret reference points at (a variable or a file), if it is well formed."""
    if isinstance(value, str):
        match = WHOLE_REF.fullmatch(value.strip())
        return match.group(1) if match else None
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, target),) = value.items()
        if kind in ("env", "file") and isinstance(target, str):
            return target
    return None


def has_errors(problems: list[ConfigError]) -> bool:
    """Whether ``problems`` (from ``check``) holds anything worse than a warning."""
    return any(not isinstance(p, ConfigWarning) for p in problems)


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}{MASK}@{host}"))


def _dump(section: Section) -> Any:
    return section.model_dump(mode="json")


def profile_to_dict(profile: ProfileConfig) -> dict[str, Any]:
    """The resolved profile in file form, every default spelled out, secrets masked."""
    out: dict[str, Any] = {}
    if profile.description:
        out["description"] = profile.description
    out["provider"] = _dump(profile.provider)
    out["deadline"] = None if profile.deadline is None else _dump_duration(profile.deadline)
    layers: list[Any] = []
    for layer in profile.layers:
        if isinstance(layer, CustomLayerConfig):
            layers.append({layer.name: dict(layer.options)})
        else:
            layers.append({layer.layer_name: _dump(layer)})
    out["layers"] = layers
    state = _dump(profile.state)
    if state.get("url"):
        state["url"] = _mask_url(state["url"])
    out["state"] = state
    out["telemetry"] = _dump(profile.telemetry)
    out["transport"] = _dump(profile.transport)
    if profile.ignore_checks:
        out["ignore_checks"] = list(profile.ignore_checks)
    return out


def _dump_duration(seconds: float) -> str:
    from .values import format_duration

    return format_duration(seconds)


def show(
    path: str | os.PathLike[str],
    profile: str,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """The fully resolved stack of ``profile`` as YAML, secrets masked, warnings as comments.

    Raises ConfigErrors when the profile is invalid (``check`` lists the problems).
    """
    config = load_config(path, env=env)
    resolved = resolve_profile(config, profile, env=env)
    lineage = config.lineage(profile)
    lines = [
        f"# profile {profile}"
        + (f" (extends {' <- '.join(lineage[1:])})" if len(lineage) > 1 else "")
    ]
    for warning in check_order(resolved, f"profiles.{profile}"):
        lines.append(f"# warning: {warning}")
    body = yaml.safe_dump(
        {"version": config.version, "profiles": {profile: profile_to_dict(resolved)}},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    return "\n".join(lines) + "\n" + body


__all__ = ["check", "has_errors", "profile_to_dict", "show"]
