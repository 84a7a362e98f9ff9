"""The catalogue: every known image model, looked up by name or alias.

The shipped data (``models.json``, with its sources and the date it was checked)
is loaded once per process by :func:`default_catalogue`; a policy file's
``models:`` section changes or adds entries with :meth:`Catalogue.extend`, which
returns a new catalogue (a catalogue is immutable and safe to share).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..errors import UnknownModel
from .spec import MAX_TEXT, CatalogueError, ModelSpec, parse_spec

#: Bounds on a catalogue (a policy file can extend it, so it is untrusted input).
MAX_MODELS = 512
MAX_EXTENDS_DEPTH = 8
DATA_FILE = "models.json"
#: Keys an ``extends`` entry inherits from its base (aliases and lifecycle are its own).
_INHERITED = ("provider", "api", "capabilities", "sources")


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = _deep_merge(current, value)
        else:
            out[key] = value
    return out


def _strip_prefix(name: str) -> str:
    return name.removeprefix("models/")


class Catalogue:
    """Model entries by name, with aliases; ``as_of`` is when the data was last checked.

    ``resolve`` is the one lookup: ``models/`` prefixes and aliases resolve, an
    unknown name is an :class:`UnknownModel` with the closest known names.
    """

    __slots__ = ("_by_name", "_raw", "as_of", "sources")

    def __init__(
        self,
        raw: Mapping[str, Mapping[str, Any]],
        *,
        as_of: date,
        sources: Mapping[str, str] | None = None,
        path: str = "models",
    ) -> None:
        if len(raw) > MAX_MODELS:
            raise CatalogueError(path, f"at most {MAX_MODELS} models")
        resolved = {name: _expand(raw, name, path) for name in raw}
        by_name: dict[str, ModelSpec] = {}
        for name, data in resolved.items():
            spec = parse_spec(name, data, f"{path}.{name}")
            for key in (name, *spec.aliases):
                if key in by_name:
                    raise CatalogueError(
                        f"{path}.{name}", f"name {key!r} is already used by {by_name[key].name!r}"
                    )
                by_name[key] = spec
        for name in resolved:
            successor = by_name[name].lifecycle.successor
            if successor is not None and successor not in by_name:
                raise CatalogueError(
                    f"{path}.{name}.lifecycle.successor", f"unknown model {successor!r}"
                )
        self._raw: Mapping[str, Mapping[str, Any]] = MappingProxyType(
            {name: dict(body) for name, body in raw.items()}
        )
        self._by_name: Mapping[str, ModelSpec] = MappingProxyType(by_name)
        self.as_of = as_of
        self.sources: Mapping[str, str] = MappingProxyType(dict(sources or {}))

    # -- lookups ---------------------------------------------------------------------------

    def resolve(self, name: str) -> ModelSpec:
        """The entry for ``name`` (a canonical name, an alias, or ``models/NAME``)."""
        spec = self.get(name)
        if spec is not None:
            return spec
        shown = name if isinstance(name, str) else repr(name)
        close = tuple(difflib.get_close_matches(_strip_prefix(str(name)), list(self._by_name), n=3))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModel(
            f"model {shown[:MAX_TEXT]!r} is not in the catalogue{hint}",
            model=shown[:MAX_TEXT],
            suggestions=close,
        )

    def get(self, name: str) -> ModelSpec | None:
        if not isinstance(name, str):
            return None
        return self._by_name.get(name) or self._by_name.get(_strip_prefix(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[ModelSpec]:
        """Every entry once, in data-file order."""
        return (self._by_name[name] for name in self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._raw)

    def for_provider(self, provider: str) -> tuple[ModelSpec, ...]:
        return tuple(spec for spec in self if spec.provider == provider)

    def successor(self, name: str, on: date) -> ModelSpec | None:
        """The first model down ``name``'s successor chain that is not retired on ``on``."""
        spec = self.resolve(name)
        seen = {spec.name}
        while spec.lifecycle.successor is not None:
            spec = self.resolve(spec.lifecycle.successor)
            if spec.name in seen:
                return None
            seen.add(spec.name)
            if spec.status(on) != "retired":
                return spec
        return None

    # -- deriving --------------------------------------------------------------------------

    def extend(self, entries: Mapping[str, Any], *, path: str = "models") -> Catalogue:
        """A new catalogue with ``entries`` merged in: an existing name is overridden
        field by field, a new name is added (it needs ``provider`` or ``extends``)."""
        if not isinstance(entries, Mapping):
            raise CatalogueError(path, f"must be a mapping of model names to entries, got "
                                 f"{type(entries).__name__}")  # fmt: skip
        raw = dict(self._raw)
        for name, body in entries.items():
            where = f"{path}.{name}"
            if not isinstance(name, str) or not name:
                raise CatalogueError(path, "model names must be non-empty strings")
            if not isinstance(body, Mapping):
                raise CatalogueError(where, f"must be a mapping, got {type(body).__name__}")
            existing = self.get(name)
            if existing is not None and existing.name in raw:
                raw[existing.name] = _deep_merge(raw[existing.name], body)
            else:
                raw[name] = dict(body)
        return Catalogue(raw, as_of=self.as_of, sources=self.sources, path=path)

    def with_prices(self, prices: Mapping[str, Any]) -> Catalogue:
        """A copy whose entries carry ``prices[name]`` (found by name or alias) as ``prices``."""
        new = Catalogue.__new__(Catalogue)
        by_name = dict(self._by_name)
        priced: dict[str, ModelSpec] = {}
        for name, spec in self._by_name.items():
            table = prices.get(spec.name)
            if table is None:
                table = next((prices[a] for a in spec.aliases if a in prices), None)
            if table is not None:
                priced.setdefault(spec.name, _replace_prices(spec, table))
                by_name[name] = priced[spec.name]
        new._raw = self._raw
        new._by_name = MappingProxyType(by_name)
        new.as_of = self.as_of
        new.sources = self.sources
        return new

    def to_dict(self, on: date | None = None) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "sources": dict(self.sources),
            "models": [spec.to_dict(on) for spec in self],
        }

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} models, as_of={self.as_of.isoformat()})"


def _replace_prices(spec: ModelSpec, table: Any) -> ModelSpec:
    from dataclasses import replace

    if isinstance(table, Mapping):
        table = MappingProxyType(dict(table))
    return replace(spec, prices=table)


def _expand(raw: Mapping[str, Mapping[str, Any]], name: str, path: str) -> dict[str, Any]:
    """``raw[name]`` with its ``extends`` chain applied (base fields first)."""
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            raise CatalogueError(f"{path}.{name}.extends", f"cycle: {' -> '.join(chain)}")
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise CatalogueError(f"{path}.{name}.extends", "too deep")
        body = raw.get(current)
        if not isinstance(body, Mapping):
            where = f"{path}.{chain[-1]}.extends" if chain else f"{path}.{name}"
            what = f"unknown model {current!r}" if body is None else "must be a mapping"
            raise CatalogueError(where, what)
        chain.append(current)
        parent = body.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise CatalogueError(f"{path}.{current}.extends", "must be a model name")
        current = parent
    merged: dict[str, Any] = {}
    for index, link in enumerate(reversed(chain)):
        body = raw[link]
        own = index == len(chain) - 1
        part = {k: v for k, v in body.items() if k != "extends" and (own or k in _INHERITED)}
        merged = _deep_merge(merged, part)
    return merged


def load_catalogue(data: object, *, path: str = "") -> Catalogue:
    """A catalogue from the data-file shape ``{"as_of", "sources", "models": {...}}``."""
    where = path or "catalogue"
    if not isinstance(data, Mapping):
        raise CatalogueError(where, "must be a mapping with as_of, sources and models")
    for key in data:
        if key not in ("version", "as_of", "sources", "models"):
            raise CatalogueError(f"{path}.{key}" if path else str(key), "unknown key")
    as_of_raw = data.get("as_of")
    try:
        as_of = date.fromisoformat(as_of_raw) if isinstance(as_of_raw, str) else None
    except ValueError:
        as_of = None
    if as_of is None:
        raise CatalogueError(f"{path}.as_of" if path else "as_of", "must be a YYYY-MM-DD date")
    sources = data.get("sources", {})
    if not isinstance(sources, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sources.items()
    ):
        raise CatalogueError(f"{path}.sources" if path else "sources", "must map ids to strings")
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise CatalogueError(f"{path}.models" if path else "models", "must be a mapping")
    return Catalogue(
        models, as_of=as_of, sources=sources, path=f"{path}.models" if path else "models"
    )


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue shipped with genguard, each entry with its shipped prices (read once;
    immutable)."""
    from .prices import default_prices

    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return load_catalogue(json.loads(text)).with_prices(default_prices().models)


__all__ = ["DATA_FILE", "MAX_MODELS", "Catalogue", "default_catalogue", "load_catalogue"]
