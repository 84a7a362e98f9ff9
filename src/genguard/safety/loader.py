"""Classifiers by name: built-ins, ``package.module:Class`` import paths, or entry points.

The config factory builds chains through ``build_chain`` so that a deployment
can plug its own classifier without touching genguard: publish a class under
the ``genguard.classifiers`` entry-point group (or name it by import path) and
refer to it in the ``safety`` config like a built-in.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, cast

from ..errors import ConfigError
from ..providers.transport import HttpTransport
from .chain import ClassifierChain
from .moderation import ModerationClassifier
from .rules import RulesClassifier
from .verdict import SafetyClassifier

ENTRY_POINT_GROUP = "genguard.classifiers"
BUILTIN_CLASSIFIERS: Mapping[str, type] = {
    "rules": RulesClassifier,
    "moderation": ModerationClassifier,
}
#: Keys of a chain spec that configure the chain rather than a classifier.
CHAIN_KEYS = ("thresholds", "actions", "default_action")


def resolve_classifier(spec: str, *, path: str = "classifier") -> Any:
    """The class (or ready instance) named by ``spec``: built-in, import path or entry point."""
    if not isinstance(spec, str) or not spec:
        raise ConfigError(path, f"a classifier is named by a string, got {spec!r}")
    if spec in BUILTIN_CLASSIFIERS:
        return BUILTIN_CLASSIFIERS[spec]
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                path, f"cannot import {module_name!r} for classifier {spec!r}: {exc}"
            ) from None
        for part in attr.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise ConfigError(path, f"{module_name!r} has no attribute {attr!r}") from None
        return target
    found = entry_points(group=ENTRY_POINT_GROUP, name=spec)
    for entry in found:
        try:
            return entry.load()
        except Exception as exc:
            raise ConfigError(path, f"entry point {spec!r} failed to load: {exc}") from None
    raise ConfigError(
        path,
        f"unknown classifier {spec!r}: not built-in ({', '.join(BUILTIN_CLASSIFIERS)}), "
        f"not an import path ('package.module:Class'), and no '{ENTRY_POINT_GROUP}' entry point",
    )


def build_classifier(
    spec: str | Mapping[str, Any] | SafetyClassifier,
    *,
    transport: HttpTransport | None = None,
    path: str = "classifier",
) -> SafetyClassifier:
    """A classifier from a name, a ``{classifier: name, **options}`` mapping, or an instance.

    A class whose constructor takes ``transport`` gets the client's transport
    unless the options give one.
    """
    if not isinstance(spec, str | Mapping):
        return _check_instance(spec, path)
    if isinstance(spec, str):
        name, options = spec, {}
    else:
        options = dict(spec)
        name = options.pop("classifier", None)
        if name is None:
            raise ConfigError(path, "missing 'classifier' (e.g. rules, moderation, pkg.mod:Class)")
    target = resolve_classifier(name, path=f"{path}.classifier")
    if not callable(target) or (not inspect.isclass(target) and hasattr(target, "classify")):
        if options:
            raise ConfigError(path, f"{name!r} is an instance and takes no options")
        return _check_instance(target, path)
    if "transport" not in options and _takes(target, "transport"):
        if transport is None:
            raise ConfigError(path, f"classifier {name!r} needs the client's HTTP transport")
        options["transport"] = transport
    try:
        instance = target(**options)
    except ConfigError as exc:
        raise ConfigError(f"{path}.{exc.path}" if exc.path else path, exc.reason) from None
    except TypeError as exc:
        raise ConfigError(path, f"bad options for classifier {name!r}: {exc}") from None
    return _check_instance(instance, path)


def build_chain(
    spec: str | Mapping[str, Any] | Sequence[Any] | ClassifierChain | None,
    *,
    transport: HttpTransport | None = None,
    path: str = "",
) -> ClassifierChain | None:
    """A chain from config, for the ``input``/``output`` keys of the ``safety`` layer.

    Accepted shapes: ``rules``; ``{classifier: rules, allowlist: [...], thresholds: ...}``;
    ``{classifiers: [rules, {classifier: moderation, ...}], thresholds: {...},
    actions: {...}, default_action: block}``; or a plain list of classifier specs.
    """
    if spec is None or isinstance(spec, ClassifierChain):
        return spec
    prefix = f"{path}." if path else ""
    chain_options: dict[str, Any] = {}
    items: list[Any]
    if isinstance(spec, str):
        items = [spec]
    elif isinstance(spec, Mapping):
        rest = dict(spec)
        for key in CHAIN_KEYS:
            if key in rest:
                chain_options[key] = rest.pop(key)
        if "classifiers" in rest:
            listed = rest.pop("classifiers")
            if rest:
                raise ConfigError(
                    f"{prefix}classifiers",
                    f"unexpected keys beside 'classifiers': {sorted(rest)}",
                )
            if isinstance(listed, str | Mapping) or not isinstance(listed, Sequence):
                raise ConfigError(f"{prefix}classifiers", "must be a list of classifiers")
            items = list(listed)
        else:
            items = [rest]
    elif isinstance(spec, Sequence):
        items = list(spec)
    else:
        raise ConfigError(path or "safety", f"cannot build a classifier chain from {spec!r}")
    classifiers = [
        build_classifier(item, transport=transport, path=f"{prefix}classifiers[{i}]")
        for i, item in enumerate(items)
    ]
    try:
        return ClassifierChain(classifiers, **chain_options)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc.path}", exc.reason) from None


def _takes(target: Any, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def _check_instance(instance: object, path: str) -> SafetyClassifier:
    if not callable(getattr(instance, "classify", None)):
        raise ConfigError(path, f"{type(instance).__name__} has no classify(request) method")
    return cast(SafetyClassifier, instance)


__all__ = [
    "BUILTIN_CLASSIFIERS",
    "ENTRY_POINT_GROUP",
    "build_chain",
    "build_classifier",
    "resolve_classifier",
]
