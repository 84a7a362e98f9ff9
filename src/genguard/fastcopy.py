"""Copies of frozen, slotted dataclasses with a few fields changed, for the per-call path.

``dataclasses.replace`` re-runs ``__init__`` with keyword arguments on every call;
copying the slots directly does the same job in about half the time. The result
is equal to what ``replace`` gives: every field is carried over, then the changes
applied. Only for classes without ``__post_init__`` checks that would be skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

_Copier = tuple[tuple[Callable[..., Any], ...], tuple[Callable[..., Any], ...]]
_COPIERS: dict[type, _Copier] = {}


def _copier(cls: type) -> _Copier:
    found = _COPIERS.get(cls)
    if found is None:
        names = [f.name for f in dataclasses.fields(cls)]
        slots = [cls.__dict__[name] for name in names]
        found = _COPIERS[cls] = (
            tuple(slot.__get__ for slot in slots),
            tuple(slot.__set__ for slot in slots),
        )
    return found


def replace_slots(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace(obj, **changes)`` for a frozen slots dataclass, faster."""
    cls = type(obj)
    if "__post_init__" in cls.__dict__ or "__slots__" not in cls.__dict__:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    getters, setters = _copier(cls)
    out = object.__new__(cls)
    for get, put in zip(getters, setters, strict=True):
        put(out, get(obj))
    for name, value in changes.items():
        object.__setattr__(out, name, value)
    return out


__all__ = ["replace_slots"]
