"""Reading config files (YAML or TOML) and resolving a profile's ``extends`` chain.

``load_config`` checks the file's structure (version, profiles, extends targets,
cycles) and keeps each profile raw. ``resolve_profile`` merges one profile with
its ancestors, interpolates ``${VAR}`` and validates the result, so a variable
that only ``prod`` needs does not have to be set to run ``dev``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ConfigErrors
from .schema import SUPPORTED_VERSIONS, TOP_LEVEL_KEYS, FallbackLayerConfig, ProfileConfig
from .validate import join, split_layer, suggest, type_name, unknown_key, validate_profile

FORMATS = ("yaml", "toml")


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: its version and each profile as written (``extends`` unapplied)."""

    version: int
    profiles: Mapping[str, Mapping[str, Any]]
    path: Path | None = None
    #: Set by ``load_config``; the process environment is read at resolve time otherwise.
    env: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    #: The ``catalogue:`` section as written (checked by ``genguard.catalogue.parse_policy``).
    catalogue: Mapping[str, Any] | None = None

    @property
    def base_dir(self) -> Path | None:
        """Relative ``{file: ...}`` secrets are read from the config file's directory."""
        return self.path.parent if self.path is not None else None

    def lineage(self, name: str) -> list[str]:
        """``name`` and its ancestors, nearest first (``["prod", "default"]``)."""
        order: list[str] = []
        _walk(self.profiles, name, order, [])
        return list(reversed(order))


# -- parsing -------------------------------------------------------------------------------


_BOOL_TAG = "tag:yaml.org,2002:bool"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL_TAG:
            key: Any = key_node.value  # YAML 1.1 reads a key "on"/"yes" as a boolean; keep the word
        else:
            key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_text(text: str, fmt: str, source: str = "<config>") -> object:
    """The raw data of a YAML or TOML document; a ConfigError says where it is broken."""
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("", f"{source}: invalid TOML: {exc}") from None
    if fmt != "yaml":
        raise ConfigError("", f"unknown config format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or "syntax error"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "${" in lines[mark.line]:
            problem += ' (inside {...} or [...], quote references: "${VAR}")'
        raise ConfigError("", f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{source}: invalid YAML: {exc}") from None


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".toml":
        return "toml"
    raise ConfigError("", f"{path.name}: unknown config format; use .yaml, .yml or .toml")


def load_config(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> ConfigFile:
    """Read and structurally check a config file. Raises ConfigErrors listing every problem."""
    file = Path(path)
    fmt = format_of(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read config file {file}: {exc}") from None
    return parse_config(text, fmt, path=file, env=env)


def parse_config(
    text: str,
    fmt: str = "yaml",
    *,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ConfigFile:
    """Like ``load_config`` for text already in hand (tests, stdin)."""
    data = parse_text(text, fmt, path.name if path else "<config>")
    return config_from_data(data, path=path, env=env)


def config_from_data(
    data: object, *, path: Path | None = None, env: Mapping[str, str] | None = None
) -> ConfigFile:
    errors: list[ConfigError] = []
    if not isinstance(data, Mapping):
        what = "empty" if data is None else f"a {type_name(data)}"
        raise ConfigError("", f"a config file is a mapping with version and profiles, got {what}")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            errors.append(unknown_key("", str(key), TOP_LEVEL_KEYS))
    version = data.get("version")
    if version is None:
        errors.append(ConfigError("version", "required (the format version, currently 1)"))
    elif isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        errors.append(
            ConfigError("version", f"unsupported version {version!r}; supported: {supported}")
        )
    profiles = data.get("profiles")
    if profiles is None:
        errors.append(ConfigError("profiles", "required: a mapping of profile names to stacks"))
        profiles = {}
    elif not isinstance(profiles, Mapping):
        errors.append(ConfigError("profiles", f"must be a mapping, got {type_name(profiles)}"))
        profiles = {}
    elif not profiles:
        errors.append(ConfigError("profiles", "must define at least one profile"))
    clean: dict[str, Mapping[str, Any]] = {}
    for name, body in profiles.items():
        where = join("profiles", str(name))
        if not isinstance(name, str) or not name:
            errors.append(ConfigError(where, "a profile name must be a non-empty string"))
        elif not isinstance(body, Mapping):
            errors.append(ConfigError(where, f"must be a mapping, got {type_name(body)}"))
        else:
            clean[name] = body
    for name, body in clean.items():
        errors.extend(_extends_errors(clean, name, body))
    catalogue = data.get("catalogue")
    if catalogue is not None:
        from ..catalogue.policy import parse_policy

        try:
            parse_policy(catalogue)
        except ConfigError as exc:
            errors.append(exc)
    if not errors:
        for name in clean:
            cycle = _find_cycle(clean, name)
            if cycle:
                errors.append(
                    ConfigError(f"profiles.{name}.extends", f"cycle: {' -> '.join(cycle)}")
                )
                break
    if errors:
        raise ConfigErrors(errors)
    assert isinstance(version, int)
    return ConfigFile(version=version, profiles=clean, path=path, env=env, catalogue=catalogue)


def _parents(body: Mapping[str, Any]) -> list[str]:
    extends = body.get("extends")
    if extends is None:
        return []
    if isinstance(extends, str):
        return [extends]
    return [p for p in extends if isinstance(p, str)] if isinstance(extends, list) else []


def _extends_errors(
    profiles: Mapping[str, Mapping[str, Any]], name: str, body: Mapping[str, Any]
) -> list[ConfigError]:
    extends = body.get("extends")
    where = f"profiles.{name}.extends"
    if extends is None:
        return []
    if isinstance(extends, str):
        items: Sequence[object] = [extends]
    elif isinstance(extends, list) and extends:
        items = extends
    else:
        return [ConfigError(where, "must be a profile name or a non-empty list of names")]
    out = []
    for index, parent in enumerate(items):
        sub = where if isinstance(extends, str) else f"{where}[{index}]"
        if not isinstance(parent, str):
            out.append(ConfigError(sub, f"must be a profile name, got {type_name(parent)}"))
        elif parent == name:
            out.append(ConfigError(sub, "a profile cannot extend itself"))
        elif parent not in profiles:
            out.append(
                ConfigError(
                    sub,
                    f"unknown profile {parent!r}{suggest(parent, profiles)}; "
                    f"profiles: {', '.join(profiles)}",
                )
            )
    return out


def _find_cycle(profiles: Mapping[str, Mapping[str, Any]], start: str) -> list[str] | None:
    def visit(name: str, stack: list[str]) -> list[str] | None:
        if name in stack:
            return [*stack[stack.index(name) :], name]
        for parent in _parents(profiles.get(name, {})):
            found = visit(parent, [*stack, name])
            if found:
                return found
        return None

    return visit(start, [])


def _walk(
    profiles: Mapping[str, Mapping[str, Any]], name: str, order: list[str], stack: list[str]
) -> None:
    """Post-order over ``extends``: ancestors first, each profile once."""
    if name in order or name in stack:
        return
    for parent in _parents(profiles.get(name, {})):
        _walk(profiles, parent, order, [*stack, name])
    order.append(name)


# -- merging -------------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key (``override`` wins); anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_profile(base: Mapping[str, Any], child: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Apply ``child`` over an (already merged) parent.

    ``layers`` as a list replaces the parent's; as a mapping it patches the
    parent's layers by name (``{retry: {attempts: 6}}``; ``false`` removes one).
    A ``provider`` with a different ``type`` replaces the parent's outright.
    """
    out = dict(base)
    for key, value in child.items():
        if key == "extends":
            continue
        current = out.get(key)
        if key == "layers" and isinstance(value, Mapping):
            out[key] = _patch_layers(current, value, f"{path}.layers")
        elif (
            key == "provider"
            and isinstance(value, Mapping)
            and isinstance(current, Mapping)
            and "type" in value
            and value.get("type") != current.get("type")
        ):
            out[key] = dict(value)
        elif isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def _patch_layers(current: object, patch: Mapping[str, Any], path: str) -> list[Any]:
    if not isinstance(current, list):
        raise ConfigError(path, "a layers patch (a mapping) needs inherited layers to patch")
    entries: list[tuple[str, Any]] = []
    for index, item in enumerate(current):
        entries.append(split_layer(item, f"{path}[{index}]"))
    names = [name for name, _ in entries]
    errors: list[ConfigError] = []
    for name, change in patch.items():
        if name not in names:
            errors.append(
                ConfigError(
                    f"{path}.{name}",
                    f"not in the inherited stack{suggest(str(name), names)}; "
                    "to add a layer, write the whole layers list",
                )
            )
            continue
        index = names.index(name)
        if change is False:
            entries[index] = ("", None)
        elif change is None or change is True:
            continue
        elif isinstance(change, Mapping):
            options = entries[index][1]
            merged = deep_merge(options if isinstance(options, Mapping) else {}, change)
            entries[index] = (name, merged)
        else:
            errors.append(
                ConfigError(
                    f"{path}.{name}",
                    f"a layer patch is a mapping of options or false, got {type_name(change)}",
                )
            )
    if errors:
        raise ConfigErrors(errors)
    return [{name: options} if options else name for name, options in entries if name]


def merged_profile(config: ConfigFile, name: str) -> dict[str, Any]:
    """``name`` with every ancestor applied, still raw (no interpolation)."""
    if name not in config.profiles:
        raise ConfigError(
            "",
            f"unknown profile {name!r}{suggest(name, config.profiles)}; "
            f"profiles: {', '.join(config.profiles)}",
        )
    merged: dict[str, Any] = {}
    for ancestor in reversed(config.lineage(name)):
        merged = merge_profile(merged, config.profiles[ancestor], f"profiles.{ancestor}")
    return merged


def resolve_profile(
    config: ConfigFile, name: str, *, env: Mapping[str, str] | None = None
) -> ProfileConfig:
    """The validated ProfileConfig for ``name``: extends applied, ``${VAR}`` resolved."""
    environ = env if env is not None else config.env if config.env is not None else os.environ
    raw = merged_profile(config, name)
    profile = validate_profile(
        name, raw, path=f"profiles.{name}", env=environ, base=config.base_dir
    )
    errors = _fallback_errors(config, profile)
    if errors:
        raise ConfigErrors(errors)
    return profile


def _fallback_errors(config: ConfigFile, profile: ProfileConfig) -> list[ConfigError]:
    """Fallback targets must be other profiles of this file, without loops."""
    errors: list[ConfigError] = []
    for index, layer in enumerate(profile.layers):
        if not isinstance(layer, FallbackLayerConfig):
            continue
        for j, target in enumerate(layer.to):
            where = f"profiles.{profile.name}.layers[{index}].fallback.to[{j}]"
            if target == profile.name:
                errors.append(ConfigError(where, "a profile cannot fall back to itself"))
            elif target not in config.profiles:
                errors.append(
                    ConfigError(
                        where,
                        f"unknown profile {target!r}{suggest(target, config.profiles)}; "
                        f"profiles: {', '.join(config.profiles)}",
                    )
                )
            else:
                loop = _fallback_loop(config, target, [profile.name])
                if loop:
                    errors.append(ConfigError(where, f"fallback loop: {' -> '.join(loop)}"))
    return errors


def _fallback_loop(config: ConfigFile, name: str, stack: list[str]) -> list[str] | None:
    if name in stack:
        return [*stack, name]
    raw = merged_profile(config, name)
    layers = raw.get("layers")
    for item in layers if isinstance(layers, list) else []:
        try:
            layer, options = split_layer(item, "")
        except ConfigError:
            continue
        targets = (
            options.get("to") if layer == "fallback" and isinstance(options, Mapping) else None
        )
        for target in targets if isinstance(targets, list) else []:
            if isinstance(target, str) and target in config.profiles:
                found = _fallback_loop(config, target, [*stack, name])
                if found:
                    return found
    return None


__all__ = [
    "FORMATS",
    "ConfigFile",
    "config_from_data",
    "deep_merge",
    "load_config",
    "merge_profile",
    "merged_profile",
    "parse_config",
    "parse_text",
    "resolve_profile",
]
