"""``check`` and ``show``: what ``genguard config check`` and ``config show`` print.

``check`` never raises for a bad config: it returns every problem, errors and
order warnings (:class:`ConfigWarning`) alike, so a CI job sees them all at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml
from pydantic import BaseModel

from ..errors import ConfigError, ConfigErrors
from ..masking import SECRET_NAME, mask_url, mask_values
from .checks import ConfigWarning, check_order
from .interpolate import WHOLE_REF
from .loader import ConfigFile, load_config, resolve_profile
from .plugins import layer_available
from .schema import CustomLayerConfig, ProfileConfig, Section, layer_name
from .secrets import Secret
from .validate import SECRET_KEYS

#: A variable value shorter than this is not hidden in ``check`` messages (it would
#: mangle them, e.g. "1" inside "layers[1]", and protects nothing).
MIN_HIDDEN = 3
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


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
    problems = _check(config, profile, env)
    environ = env if env is not None else os.environ
    values = {name: environ[name] for name in referenced_variables(config) if name in environ}
    for problem in problems:
        _hide_values(problem, values)
    return problems


def _hide_values(error: ConfigError, values: Mapping[str, str]) -> None:
    """Replace each variable's value in ``error``'s text by its ``${NAME}``: ``check``
    output goes to CI logs, and a value may be a secret put in the wrong field."""
    message, reason = error.message, error.reason
    for name, value in sorted(values.items(), key=lambda item: len(item[1]), reverse=True):
        if len(value) >= MIN_HIDDEN:
            message = message.replace(value, f"${{{name}}}")
            reason = reason.replace(value, f"${{{name}}}")
    error.message, error.reason = message, reason
    error.args = (message,)


def referenced_variables(config: ConfigFile) -> set[str]:
    """Names of the environment variables the file refers to (``${NAME}``, ``{env: NAME}``)."""
    names: set[str] = set()
    stack: list[object] = [config.profiles]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            names.update(_REFERENCE.findall(value))
        elif isinstance(value, Mapping):
            env_name = value.get("env")
            if isinstance(env_name, str) and len(value) == 1:
                names.add(env_name)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return names


def _check(
    config: ConfigFile, profile: str | None, env: Mapping[str, str] | None
) -> list[ConfigError]:
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
        state["url"] = mask_url(state["url"])
    out["state"] = state
    out["telemetry"] = _dump(profile.telemetry)
    out["transport"] = _dump(profile.transport)
    out["stream"] = _dump(profile.stream)
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
    environ = env if env is not None else os.environ
    variables = {n: environ[n] for n in referenced_variables(config) if n in environ}
    try:
        resolved = resolve_profile(config, profile, env=env)
    except ConfigError as exc:
        for problem in _flatten(exc):
            _hide_values(problem, variables)
        if isinstance(exc, ConfigErrors):
            exc.message = "\n".join(str(e) for e in exc.errors)
            exc.args = (exc.message,)
        else:
            _hide_values(exc, variables)
        raise
    lineage = config.lineage(profile)
    lines = [
        f"# profile {profile}"
        + (f" (extends {' <- '.join(lineage[1:])})" if len(lineage) > 1 else "")
    ]
    for warning in check_order(resolved, f"profiles.{profile}"):
        lines.append(f"# warning: {warning}")
    shown = _mask_urls(profile_to_dict(resolved))
    body = yaml.safe_dump(
        {"version": config.version, "profiles": {profile: shown}},
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    # Secrets may also have been interpolated into fields that are not secrets.
    secrets = [secret.get() for secret in _secrets_in(resolved)]
    secrets += [value for name, value in variables.items() if SECRET_NAME.search(name)]
    return mask_values("\n".join(lines) + "\n" + body, (s for s in secrets if len(s) >= 4))


def _mask_urls(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: _mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_urls(v) for v in value]
    return value


def _secrets_in(value: object) -> list[Secret]:
    """Every ``Secret`` held anywhere in a resolved profile."""
    found: list[Secret] = []
    stack: list[object] = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Secret):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, BaseModel):
            stack.extend(getattr(item, name, None) for name in type(item).model_fields)
    return found


__all__ = ["check", "has_errors", "profile_to_dict", "show"]
