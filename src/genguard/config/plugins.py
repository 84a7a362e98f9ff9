"""The one registry of component names: built-in layers and classifiers, and plugins.

A built-in layer is ``name -> "module:Class"``; the class's ``options_model`` is its
options (declared beside it), so a new built-in layer is one line here. A package
adds a layer with an entry point in group ``genguard.layers``:
``[project.entry-points."genguard.layers"] audit = "pkg.mod:AuditLayer"``, and a
config names ``audit`` in ``layers``. The object is called with the layer's options
as keyword arguments and must return a Layer; if it has a ``config_model`` attribute
(a pydantic model), options are validated with it when the config is checked.
Modules are imported only when a stack names them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import ConfigError
from ..layers.safety import BUILTIN_CLASSIFIERS

GROUP = "genguard.layers"

#: Built-in layers by the name written in ``layers`` -> ``module:Class``, in the
#: recommended order (outermost first).
LAYER_MODULES: dict[str, str] = {
    "telemetry": "genguard.layers.telemetry:TelemetryLayer",
    "safety": "genguard.layers.safety:SafetyLayer",
    "prompt_policy": "genguard.layers.prompt_policy:PromptPolicyLayer",
    "fallback": "genguard.layers.fallback:FallbackLayer",
    "retry": "genguard.layers.retry:RetryLayer",
    "circuit_breaker": "genguard.layers.circuit_breaker:CircuitBreakerLayer",
    "rate_limit": "genguard.layers.rate_limit:RateLimitLayer",
    "timeout": "genguard.layers.timeout:TimeoutLayer",
    "budget": "genguard.layers.budget:BudgetLayer",
}

#: Built-in classifiers (declared beside the safety layer's options) -> ``module:Class``.
CLASSIFIERS = BUILTIN_CLASSIFIERS


def load(spec: str, path: str, what: str) -> Any:
    """The object ``module:attr`` names; a missing module or attribute is a ConfigError
    at ``path`` saying ``what`` is not available, never an ImportError."""
    name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise ConfigError(path, f"{what} is not available (module {name} is missing)") from None
        raise
    found: Any = module
    for part in attr.split(".") if attr else ():
        found = getattr(found, part, None)
        if found is None:
            raise ConfigError(path, f"{what} is not available ({name}.{attr} is missing)")
    return found


def layer_class(name: str, path: str) -> Any:
    """The class of built-in layer ``name``."""
    return load(LAYER_MODULES[name], path, f"layer {name}")


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def custom_layer_names() -> set[str]:
    """Names of the installed custom layers."""
    return set(_entry_points())


def load_custom_layer(name: str) -> Callable[..., Any]:
    """The factory behind entry point ``name``; a ConfigError if it is missing or broken."""
    ep = _entry_points().get(name)
    if ep is None:
        raise ConfigError("", f"no layer {name!r} in entry point group {GROUP!r}")
    try:
        factory = ep.load()
    except Exception as exc:  # a broken plugin must not crash config loading
        raise ConfigError(
            "", f"layer {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(factory):
        raise ConfigError("", f"layer {name!r} ({ep.value}) is not callable")
    return factory  # type: ignore[no-any-return]


def layer_available(name: str, path: str) -> None:
    """Raise ConfigError if built-in layer ``name`` cannot be built in this install."""
    if name in LAYER_MODULES:
        layer_class(name, path)


__all__ = [
    "CLASSIFIERS",
    "GROUP",
    "LAYER_MODULES",
    "custom_layer_names",
    "layer_available",
    "layer_class",
    "load",
    "load_custom_layer",
]
