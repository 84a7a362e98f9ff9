"""Reading config files (YAML or TOML) and resolving a profile's ``extends`` chain.

``load_config`` checks the file's structure (version, profiles, extends targets,
cycles) and keeps each profile raw. ``resolve_profile`` merges one profile with
its ancestors, interpolates ``${VAR}`` and validates the result, so a variable
that only ``prod`` needs does not have to be set to run ``dev``.
"""

from __future__ import annotations

import itertools
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ConfigErrors
from ..files import FileRefused, read_bounded
from .schema import SUPPORTED_VERSIONS, TOP_LEVEL_KEYS, FallbackLayerConfig, ProfileConfig
from .validate import join, split_layer, suggest, type_name, unknown_key, validate_profile

FORMATS = ("yaml", "toml")

# A policy file may come from a pull request or a shared repository: it is read with
# limits, so a hostile one ends in a ConfigError, never a hang, a RecursionError or a
# MemoryError.
#: Largest config file read.
MAX_CONFIG_BYTES = 1024 * 1024
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 64
#: Most YAML aliases (``*name``) in one document.
MAX_ALIASES = 256
#: Most values in the document with every alias expanded (a "billion laughs" grows x9 per level).
MAX_NODES = 200_000
#: Most profiles in one file, parents per ``extends``, and the longest ``extends`` or
#: ``fallback`` chain.
MAX_PROFILES = 256
MAX_PARENTS = 16
MAX_CHAIN = 32


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


class _LimitedLoader(_StrictLoader):
    """Counts aliases and depth while composing, then measures the expanded size."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitError(f"more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _check_expanded_size(node)
        return node


class _LimitError(yaml.YAMLError):
    """A config document over one of the reading limits."""


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the values with aliases expanded, without expanding them; refuse cycles."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_NODES:
                raise _LimitError(f"more than {MAX_NODES} values once aliases are expanded")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            raise _LimitError("an alias refers to a value that contains it (a cycle)")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _depth_of(data: object) -> int:
    """Nesting depth of parsed data (TOML), iteratively; stops counting past the limit."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_text(text: str, fmt: str, source: str = "<config>") -> object:
    """The raw data of a YAML or TOML document; a ConfigError says where it is broken."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"{source}: larger than {MAX_CONFIG_BYTES} bytes")
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("", f"{source}: invalid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError("", f"{source}: nested deeper than {MAX_DEPTH} levels") from None
        if _depth_of(data) > MAX_DEPTH:
            raise ConfigError("", f"{source}: nested deeper than {MAX_DEPTH} levels")
        return data
    if fmt != "yaml":
        raise ConfigError("", f"unknown config format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        return yaml.load(text, Loader=_LimitedLoader)
    except _LimitError as exc:
        raise ConfigError("", f"{source}: refused: {exc}") from None
    except RecursionError:
        raise ConfigError("", f"{source}: nested deeper than {MAX_DEPTH} levels") from None
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
    if not file.exists():
        raise ConfigError("", f"config file not found: {file}")
    try:
        data = read_bounded(file.parent, file.name, max_bytes=MAX_CONFIG_BYTES)
        text = data.decode("utf-8")
    except FileRefused as exc:
        raise ConfigError("", f"cannot read config file {file}: {exc.reason}") from None
    except UnicodeDecodeError as exc:
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
    if isinstance(profiles, Mapping) and len(profiles) > MAX_PROFILES:
        raise ConfigError("profiles", f"at most {MAX_PROFILES} profiles in one file")
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
        cycle = _find_cycle(clean)
        if cycle:
            errors.append(
                ConfigError(f"profiles.{cycle[0]}.extends", f"cycle: {' -> '.join(cycle)}")
            )
        else:
            errors.extend(_chain_errors(clean, _parents, "extends"))
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


def _find_cycle(
    graph: Mapping[str, Any], edges: Callable[[str], list[str]] | None = None
) -> list[str] | None:
    """A cycle in the ``extends`` graph (or ``edges``), found in linear time without recursion."""
    follow = edges or (lambda name: _parents(graph.get(name, {})))
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = []
        state[start] = 1
        path.append(start)
        stack.append((start, iter(follow(start))))
        while stack:
            name, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[name] = 2
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt) and nxt in graph:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(follow(nxt))))
    return None


def _chain_errors(
    profiles: Mapping[str, Any], edges: Callable[[Mapping[str, Any]], list[str]], what: str
) -> list[ConfigError]:
    """The longest ``extends`` chain (graph known to be acyclic) is at most ``MAX_CHAIN``."""
    depth: dict[str, int] = {}
    for start in profiles:
        stack = [start]
        while stack:
            name = stack[-1]
            if name in depth:
                stack.pop()
                continue
            parents = [p for p in edges(profiles.get(name, {})) if p in profiles]
            if len(parents) > MAX_PARENTS:
                return [ConfigError(f"profiles.{name}.{what}", f"at most {MAX_PARENTS} parents")]
            missing = [p for p in parents if p not in depth]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            depth[name] = 1 + max((depth[p] for p in parents), default=0)
            if depth[name] > MAX_CHAIN:
                return [
                    ConfigError(
                        f"profiles.{name}.{what}", f"a chain longer than {MAX_CHAIN} profiles"
                    )
                ]
    return []


def _walk(
    profiles: Mapping[str, Mapping[str, Any]], name: str, order: list[str], stack: list[str]
) -> None:
    """Post-order over ``extends``: ancestors first, each profile once (no recursion)."""
    seen = set(order) | set(stack)
    if name in seen:
        return
    todo: list[tuple[str, Iterator[str]]] = [(name, iter(_parents(profiles.get(name, {}))))]
    seen.add(name)
    while todo:
        current, parents = todo[-1]
        parent = next(parents, None)
        if parent is None:
            todo.pop()
            order.append(current)
        elif parent not in seen:
            seen.add(parent)
            todo.append((parent, iter(_parents(profiles.get(parent, {})))))


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
                if loop and "..." in loop:
                    errors.append(
                        ConfigError(where, f"a fallback chain longer than {MAX_CHAIN} profiles")
                    )
                elif loop:
                    errors.append(ConfigError(where, f"fallback loop: {' -> '.join(loop)}"))
    return errors


def _fallback_targets(config: ConfigFile, name: str) -> list[str]:
    raw = merged_profile(config, name)
    layers = raw.get("layers")
    out: list[str] = []
    for item in layers if isinstance(layers, list) else []:
        try:
            layer, options = split_layer(item, "")
        except ConfigError:
            continue
        targets = (
            options.get("to") if layer == "fallback" and isinstance(options, Mapping) else None
        )
        for target in targets if isinstance(targets, list) else []:
            if isinstance(target, str) and target in config.profiles and target not in out:
                out.append(target)
    return out


def _fallback_loop(config: ConfigFile, name: str, stack: list[str]) -> list[str] | None:
    """A fallback loop reachable from ``name`` back into ``stack`` or itself (linear time)."""
    cache: dict[str, list[str]] = {}

    def targets(profile: str) -> list[str]:
        if profile not in cache:
            cache[profile] = _fallback_targets(config, profile)
        return cache[profile]

    graph = dict.fromkeys([*stack, *config.profiles])
    # The starting stack is a path of fallbacks already taken: model it as edges.
    chain = [*stack, name]
    prefix = {a: b for a, b in itertools.pairwise(chain)}

    def edges(profile: str) -> list[str]:
        return [prefix[profile]] if profile in prefix else targets(profile)

    state: dict[str, int] = {}
    path: list[str] = []
    todo: list[tuple[str, Iterator[str]]] = [(chain[0], iter(edges(chain[0])))]
    state[chain[0]] = 1
    path.append(chain[0])
    while todo:
        current, pending = todo[-1]
        nxt = next(pending, None)
        if nxt is None:
            todo.pop()
            path.pop()
            state[current] = 2
        elif state.get(nxt) == 1:
            return [*path, nxt]
        elif not state.get(nxt) and nxt in graph:
            if len(path) >= MAX_CHAIN:
                return [*path[:2], "...", nxt]
            state[nxt] = 1
            path.append(nxt)
            todo.append((nxt, iter(edges(nxt))))
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
