"""Custom layers from installed packages: entry point group ``genguard.layers``.

A package declares ``[project.entry-points."genguard.layers"] audit = "pkg.mod:AuditLayer"``
and a config names ``audit`` in ``layers``. The object is called with the
layer's options as keyword arguments and must return a Layer. If it has a
``config_model`` attribute (a pydantic model), options are validated with it
when the config is checked, so a typo is caught before deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import ConfigError

GROUP = "genguard.layers"


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


__all__ = ["GROUP", "custom_layer_names", "load_custom_layer"]
