"""One model's entry: provider and API, lifecycle, capabilities, sources.

Entries are parsed from plain mappings (the shipped data file, or a policy file's
``models:`` section) by :func:`parse_spec`, which checks every field and reports
a :class:`CatalogueError` naming the path of the first bad one, so bad data is
never a ``KeyError`` later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from ..errors import ConfigError

Stage = Literal["preview", "ga"]
Status = Literal["preview", "ga", "deprecated", "retired"]
STAGES: tuple[Stage, ...] = ("preview", "ga")
#: Providers genguard has adapters for, and the API each entry is called through.
PROVIDERS: tuple[str, ...] = ("openai", "gemini", "imagen")
APIS: tuple[str, ...] = ("images", "generateContent", "predict")
#: Bounds on what a data file may say (untrusted input: a policy file can extend it).
MAX_NAME = 128
MAX_LIST = 64
MAX_TEXT = 2000


class CatalogueError(ConfigError):
    """The catalogue data is malformed; ``path`` locates the field (``models.gpt-image-1.n``)."""


@dataclass(frozen=True, slots=True)
class FreeSize:
    """Free-form ``WxH`` sizes (gpt-image-2): every side a multiple of ``multiple``,
    long/short side ratio at most ``max_ratio``, each side at most ``max_side`` and
    the area at most ``max_pixels`` (``min_pixels`` at least)."""

    multiple: int = 16
    max_ratio: float = 3.0
    max_side: int = 3840
    max_pixels: int = 3840 * 2160
    min_pixels: int = 0

    def problem(self, width: int, height: int) -> str | None:
        """Why ``width x height`` is not allowed, or None when it is."""
        if width <= 0 or height <= 0:
            return "both sides must be positive"
        if width % self.multiple or height % self.multiple:
            return f"both sides must be multiples of {self.multiple}"
        if max(width, height) > self.max_side:
            return f"no side may exceed {self.max_side} px"
        ratio = max(width, height) / min(width, height)
        if ratio > self.max_ratio + 1e-9:
            return f"the aspect ratio must be between 1:{self.max_ratio:g} and {self.max_ratio:g}:1"
        if width * height > self.max_pixels:
            return f"at most {self.max_pixels} pixels"
        if width * height < self.min_pixels:
            return f"at least {self.min_pixels} pixels"
        return None

    def describe(self) -> str:
        text = (
            f"WxH, sides multiple of {self.multiple}, ratio 1:{self.max_ratio:g} to "
            f"{self.max_ratio:g}:1, side <= {self.max_side}, <= {self.max_pixels} px"
        )
        return text + (f", >= {self.min_pixels} px" if self.min_pixels else "")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model accepts. Empty tuples mean "no such parameter" for that model."""

    #: Fixed ``WxH`` sizes (OpenAI ``size``); may include ``auto``.
    sizes: tuple[str, ...] = ()
    free_size: FreeSize | None = None
    #: ``W:H`` ratios (Gemini ``imageConfig.aspectRatio``, Imagen ``aspectRatio``).
    aspect_ratios: tuple[str, ...] = ()
    #: Resolution classes (Gemini ``imageSize``, Imagen ``sampleImageSize``).
    image_sizes: tuple[str, ...] = ()
    n_min: int = 1
    n_max: int = 1
    output_formats: tuple[str, ...] = ()
    output_compression: bool = False
    background: tuple[str, ...] = ()
    quality: tuple[str, ...] = ()
    moderation: tuple[str, ...] = ()
    style: tuple[str, ...] = ()
    response_formats: tuple[str, ...] = ()
    input_fidelity: tuple[str, ...] = ()
    person_generation: tuple[str, ...] = ()
    edits: bool = False
    max_input_images: int = 0
    max_input_image_bytes: int = 0
    input_mime_types: tuple[str, ...] = ()
    mask: bool = False
    streaming: bool = False
    partial_images_max: int = 0
    batch: bool = False
    service_tiers: tuple[str, ...] = ()
    seed: bool = False
    negative_prompt: bool = False
    max_prompt_chars: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _CAPABILITY_FIELDS:
            value = getattr(self, name)
            if name == "free_size":
                out[name] = None if value is None else _free_size_dict(value)
            else:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Release stage and retirement: ``retirement`` is the provider's shutdown date."""

    stage: Stage = "ga"
    released: date | None = None
    retirement: date | None = None
    #: Set when the provider says the model is gone but gave no date.
    retired: bool = False
    successor: str | None = None
    note: str | None = None

    def status(self, on: date) -> Status:
        """``retired`` on/after the shutdown date, ``deprecated`` before an announced one."""
        if self.retired or (self.retirement is not None and on >= self.retirement):
            return "retired"
        if self.retirement is not None:
            return "deprecated"
        return self.stage


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One catalogue entry. ``prices`` is the model's entry in the shipped price table
    (``genguard.catalogue.prices.ModelPrice``), None when the table has none."""

    name: str
    provider: str
    api: str
    aliases: tuple[str, ...] = ()
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    capabilities: Capabilities = field(default_factory=Capabilities)
    sources: tuple[str, ...] = ()
    prices: Any = None

    def status(self, on: date) -> Status:
        return self.lifecycle.status(on)

    def to_dict(self, on: date | None = None) -> dict[str, Any]:
        """A JSON-ready view (``status`` included when ``on`` is given)."""
        life = self.lifecycle
        out: dict[str, Any] = {
            "name": self.name,
            "provider": self.provider,
            "api": self.api,
            "aliases": list(self.aliases),
            "stage": life.stage,
            "released": life.released.isoformat() if life.released else None,
            "retirement": life.retirement.isoformat() if life.retirement else None,
            "successor": life.successor,
        }
        if on is not None:
            out["status"] = self.status(on)
        out["note"] = life.note
        out["capabilities"] = self.capabilities.to_dict()
        out["sources"] = list(self.sources)
        out["prices"] = price_view(self.prices)
        return out


def price_view(price: Any) -> dict[str, Any] | None:
    """A JSON-ready view of a price entry (a mapping or a dataclass; Decimals as text)."""
    if price is None:
        return None
    if is_dataclass(price) and not isinstance(price, type):
        price = {f.name: getattr(price, f.name) for f in fields(price)}
    return _plain(price) if isinstance(price, Mapping) else {"value": _plain(price)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


_CAPABILITY_FIELDS: tuple[str, ...] = tuple(Capabilities.__dataclass_fields__)
_TUPLE_FIELDS = frozenset(
    name for name in _CAPABILITY_FIELDS if isinstance(getattr(Capabilities(), name), tuple)
)
_BOOL_FIELDS = frozenset(
    name for name in _CAPABILITY_FIELDS if isinstance(getattr(Capabilities(), name), bool)
)
_INT_FIELDS = frozenset(
    name
    for name in _CAPABILITY_FIELDS
    if name not in _BOOL_FIELDS and isinstance(getattr(Capabilities(), name), int)
)
_ENTRY_KEYS = ("provider", "api", "aliases", "extends", "lifecycle", "capabilities", "sources")
_LIFECYCLE_KEYS = ("stage", "released", "retirement", "retired", "successor", "note")
_FREE_SIZE_KEYS = ("multiple", "max_ratio", "max_side", "max_pixels", "min_pixels")
_DEFAULT_API = {"openai": "images", "gemini": "generateContent", "imagen": "predict"}


def _free_size_dict(value: FreeSize) -> dict[str, Any]:
    return {key: getattr(value, key) for key in _FREE_SIZE_KEYS}


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise CatalogueError(
                f"{path}.{key}", f"unknown key; expected one of: {', '.join(allowed)}"
            )


def _text(value: object, path: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(path, f"must be a non-empty string, got {_type(value)}")
    if len(value) > limit:
        raise CatalogueError(path, f"must be at most {limit} characters")
    return value


def _texts(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise CatalogueError(path, f"must be a list of strings, got {_type(value)}")
    if len(value) > MAX_LIST:
        raise CatalogueError(path, f"at most {MAX_LIST} items")
    out = tuple(_text(item, f"{path}[{i}]", MAX_TEXT) for i, item in enumerate(value))
    if len(set(out)) != len(out):
        raise CatalogueError(path, "items must be unique")
    return out


def _int(value: object, path: str, low: int = 0, high: int = 10**12) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogueError(path, f"must be an integer, got {_type(value)}")
    if not low <= value <= high:
        raise CatalogueError(path, f"must be between {low} and {high}, got {value}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogueError(path, f"must be true or false, got {_type(value)}")
    return value


def _date(value: object, path: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise CatalogueError(path, f"must be a YYYY-MM-DD date, got {_type(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CatalogueError(path, f"must be a YYYY-MM-DD date, got {value!r}") from None


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogueError(path, f"must be a mapping, got {_type(value)}")
    for key in value:
        if not isinstance(key, str):
            raise CatalogueError(path, f"keys must be strings, got {_type(key)}")
    return value


def _free_size(value: object, path: str) -> FreeSize | None:
    if value is None:
        return None
    data = _mapping(value, path)
    _check_keys(data, _FREE_SIZE_KEYS, path)
    ratio = data.get("max_ratio", 3.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio):
        raise CatalogueError(f"{path}.max_ratio", f"must be a number, got {_type(ratio)}")
    if not 1.0 <= ratio <= 64.0:
        raise CatalogueError(f"{path}.max_ratio", f"must be between 1 and 64, got {ratio}")
    return FreeSize(
        multiple=_int(data.get("multiple", 16), f"{path}.multiple", 1, 1024),
        max_ratio=float(ratio),
        max_side=_int(data.get("max_side", 3840), f"{path}.max_side", 1, 100_000),
        max_pixels=_int(data.get("max_pixels", 3840 * 2160), f"{path}.max_pixels", 1),
        min_pixels=_int(data.get("min_pixels", 0), f"{path}.min_pixels", 0),
    )


def parse_capabilities(value: object, path: str) -> Capabilities:
    data = _mapping(value, path)
    _check_keys(data, _CAPABILITY_FIELDS, path)
    kwargs: dict[str, Any] = {}
    for key, item in data.items():
        where = f"{path}.{key}"
        if key == "free_size":
            kwargs[key] = _free_size(item, where)
        elif key in _TUPLE_FIELDS:
            kwargs[key] = _texts(item, where)
        elif key in _BOOL_FIELDS:
            kwargs[key] = _bool(item, where)
        else:
            assert key in _INT_FIELDS
            kwargs[key] = _int(item, where, 0, 10**12)
    caps = Capabilities(**kwargs)
    if caps.n_min < 1 or caps.n_max < caps.n_min or caps.n_max > 1000:
        raise CatalogueError(f"{path}.n_max", "needs 1 <= n_min <= n_max <= 1000")
    return caps


def parse_lifecycle(value: object, path: str) -> Lifecycle:
    data = _mapping(value, path)
    _check_keys(data, _LIFECYCLE_KEYS, path)
    stage = data.get("stage", "ga")
    if stage not in STAGES:
        raise CatalogueError(f"{path}.stage", f"must be one of {', '.join(STAGES)}, got {stage!r}")
    successor = data.get("successor")
    note = data.get("note")
    return Lifecycle(
        stage="preview" if stage == "preview" else "ga",
        released=_date(data.get("released"), f"{path}.released"),
        retirement=_date(data.get("retirement"), f"{path}.retirement"),
        retired=_bool(data.get("retired", False), f"{path}.retired"),
        successor=None if successor is None else _text(successor, f"{path}.successor"),
        note=None if note is None else _text(note, f"{path}.note", MAX_TEXT),
    )


def parse_spec(name: str, data: Mapping[str, Any], path: str) -> ModelSpec:
    """One entry whose ``extends`` has already been applied."""
    _text(name, path)
    _check_keys(data, _ENTRY_KEYS, path)
    provider = data.get("provider")
    if provider not in PROVIDERS:
        raise CatalogueError(
            f"{path}.provider", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
    assert isinstance(provider, str)
    api = data.get("api", _DEFAULT_API[provider])
    if api not in APIS:
        raise CatalogueError(f"{path}.api", f"must be one of {', '.join(APIS)}, got {api!r}")
    return ModelSpec(
        name=name,
        provider=provider,
        api=str(api),
        aliases=_texts(data.get("aliases", []), f"{path}.aliases"),
        lifecycle=parse_lifecycle(data.get("lifecycle", {}), f"{path}.lifecycle"),
        capabilities=parse_capabilities(data.get("capabilities", {}), f"{path}.capabilities"),
        sources=_texts(data.get("sources", []), f"{path}.sources"),
    )


__all__ = [
    "APIS",
    "PROVIDERS",
    "STAGES",
    "Capabilities",
    "CatalogueError",
    "FreeSize",
    "Lifecycle",
    "ModelSpec",
    "Stage",
    "Status",
    "parse_capabilities",
    "parse_lifecycle",
    "parse_spec",
    "price_view",
]
