"""Prices as data: per token kind, per image, per service tier, each with its source and date.

The shipped table (``prices.json`` beside this module) is read once; a policy
file's ``prices:`` section overrides single fields of a model or adds models
(``PriceBook.with_overrides``). Money is ``Decimal`` throughout, so a ledger
adds up to the cent with no float drift.

Two questions are answered here and nowhere else: what did an attempt cost,
given the usage the provider reported (``ModelPrice.usage_cost``), and what may
one attempt of a request cost before it is sent (``ModelPrice.estimate``, the
expected figure, or with ``maximum=True`` the upper bound a budget reserves).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

from ..errors import ConfigError, PriceUnknown
from ..model import GenerationRequest, Usage

PER_MILLION = Decimal(1_000_000)
#: Token kinds a model may price (USD per 1M tokens).
TOKEN_KINDS: tuple[str, ...] = (
    "text_input",
    "image_input",
    "cached_text_input",
    "cached_image_input",
    "text_output",
    "image_output",
    "thoughts",
)
#: When a kind has no price of its own, the next one in its chain is used. The
#: chains lean expensive: an unpriced output is priced as image output.
_FALLBACK: Mapping[str, tuple[str, ...]] = {
    "text_input": ("text_input", "image_input"),
    "image_input": ("image_input", "text_input"),
    "cached_text_input": ("cached_text_input", "text_input", "image_input"),
    "cached_image_input": ("cached_image_input", "image_input", "text_input"),
    "text_output": ("text_output", "image_output"),
    "image_output": ("image_output", "text_output"),
    "thoughts": ("thoughts", "text_output", "image_output"),
}
#: Quality key for tables that do not vary by quality.
ANY_QUALITY = "*"
DEFAULT_KEY = "default"
STANDARD_TIER = "standard"
#: Bounds on untrusted price data: no price above this, no token count above that.
MAX_PRICE = Decimal(1_000_000)
MAX_TOKENS = 10_000_000
#: A prompt's expected tokens: about four characters each.
CHARS_PER_TOKEN = 4
#: Model names whose lookup a book remembers (names come from requests: bounded).
MAX_RESOLVED = 1024

_N = TypeVar("_N", int, Decimal)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a price depends on, read from a request: size, quality, count, inputs, tier."""

    size: str | None = None
    aspect_ratio: str | None = None
    quality: str | None = None
    n: int = 1
    input_images: int = 0
    prompt_chars: int = 0
    prompt_bytes: int = 0
    tier: str = STANDARD_TIER

    @classmethod
    def of(cls, request: GenerationRequest) -> Shape:
        """The shape of ``request``: its own fields, ``options['quality']`` and
        ``options['service_tier']``, and the text and images of its history."""
        prompt = request.prompt
        if not (request.options or request.images or request.history):
            # Most requests: a prompt alone. The same shape as below, without the loops.
            size = len(prompt) if prompt.isascii() else len(prompt.encode("utf-8", "replace"))
            return cls(request.size, request.aspect_ratio, None, request.n, 0, len(prompt), size)
        options = request.options or {}
        quality = options.get("quality")
        tier = options.get("service_tier")
        texts = [request.prompt]
        images = len(request.images)
        for turn in request.history:
            for part in turn.parts:
                if part.text:
                    texts.append(part.text)
                if part.image is not None or part.raw_data is not None:
                    images += 1
        mask = options.get("mask")
        return cls(
            size=request.size,
            aspect_ratio=request.aspect_ratio,
            quality=quality if isinstance(quality, str) else None,
            n=request.n,
            input_images=images + (1 if mask is not None else 0),
            prompt_chars=sum(len(t) for t in texts),
            prompt_bytes=sum(len(t.encode("utf-8", "replace")) for t in texts),
            tier=tier.lower() if isinstance(tier, str) and tier else STANDARD_TIER,
        )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices. ``tokens`` are USD per 1M tokens by kind; ``per_image``
    and ``output_image_tokens`` are keyed by size, then quality (``*`` when flat);
    ``tiers`` multiply everything (Batch is 0.5)."""

    model: str
    provider: str = ""
    source: str = ""
    as_of: str = ""
    tokens: Mapping[str, Decimal] = field(default_factory=dict)
    output_image_tokens: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    per_image: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    input_image_tokens: int = 0
    default_size: str | None = None
    default_quality: str | None = None
    reserve_text_output_tokens: int = 0
    tiers: Mapping[str, Decimal] = field(default_factory=lambda: {STANDARD_TIER: Decimal(1)})

    # -- lookups -------------------------------------------------------------------------
    def token_price(self, kind: str) -> Decimal:
        """USD per 1M tokens of ``kind``, through the fallback chain; 0 if none is known."""
        for name in _FALLBACK.get(kind, (kind,)):
            price = self.tokens.get(name)
            if price is not None:
                return price
        return Decimal(0)

    def tier_factor(self, tier: str) -> Decimal:
        factor = self.tiers.get(tier)
        if factor is None:
            if tier == STANDARD_TIER:
                return Decimal(1)
            known = ", ".join(sorted(self.tiers)) or "none"
            raise PriceUnknown(
                f"no price for service tier {tier!r} of {self.model} (known: {known})",
                model=self.model,
            )
        return factor

    # -- what an attempt cost ------------------------------------------------------------
    def usage_cost(self, usage: Usage, shape: Shape) -> Decimal | None:
        """The cost of the usage a provider reported, or None if it reported none."""
        factor = self.tier_factor(shape.tier)
        if self.tokens:
            amount = self._token_cost(usage)
            if amount is not None:
                return amount * factor
        if self.per_image and usage.images is not None:
            return usage.images * self._image_price(shape, maximum=False) * factor
        return None

    def _token_cost(self, usage: Usage) -> Decimal | None:
        fields = (
            usage.input_tokens, usage.output_tokens, usage.input_text_tokens,
            usage.input_image_tokens, usage.image_tokens, usage.output_text_tokens,
            usage.thoughts_tokens,
        )  # fmt: skip
        if all(value is None for value in fields):
            return None
        in_text, in_image = _split(
            usage.input_tokens, usage.input_text_tokens, usage.input_image_tokens
        )
        cached = min(usage.cached_tokens or 0, in_text + in_image)
        cached_text = min(cached, in_text)
        cached_image = cached - cached_text
        out_image, out_text = _split(
            usage.output_tokens, usage.image_tokens, usage.output_text_tokens
        )
        counts = {
            "text_input": in_text - cached_text,
            "image_input": in_image - cached_image,
            "cached_text_input": cached_text,
            "cached_image_input": cached_image,
            "image_output": out_image,
            "text_output": out_text,
            "thoughts": usage.thoughts_tokens or 0,
        }
        return _per_million(sum(count * self.token_price(kind) for kind, count in counts.items()))

    # -- what an attempt may cost ----------------------------------------------------------
    def estimate(self, shape: Shape, *, maximum: bool = False) -> Decimal:
        """One attempt's cost before it is sent: expected, or an upper bound (``maximum``).

        Quality left to the provider (``auto`` or unset) is priced at the most
        expensive quality; a size the table does not know takes the nearest
        aspect ratio, else the default, else the most expensive size.
        """
        factor = self.tier_factor(shape.tier)
        if not self.tokens:
            if not self.per_image:
                raise PriceUnknown(f"no price data for {self.model}", model=self.model)
            return shape.n * self._image_price(shape, maximum=maximum) * factor
        if maximum:
            text_in = shape.prompt_bytes
            text_out = self.reserve_text_output_tokens
        else:
            text_in = math.ceil(shape.prompt_chars / CHARS_PER_TOKEN)
            text_out = 0
        out_image = shape.n * self.output_tokens(shape) if self.output_image_tokens else 0
        total = (
            text_in * self.token_price("text_input")
            + shape.input_images * self.input_image_tokens * self.token_price("image_input")
            + out_image * self.token_price("image_output")
            + text_out * max(self.token_price("text_output"), self.token_price("thoughts"))
        )
        return _per_million(total) * factor

    def output_tokens(self, shape: Shape) -> int:
        """Image output tokens per image at the shape's size and quality."""
        return _pick(self.output_image_tokens, shape, self.default_size, self.default_quality)

    def _image_price(self, shape: Shape, *, maximum: bool) -> Decimal:
        del maximum  # a per-image table has one price per size and quality
        return _pick(self.per_image, shape, self.default_size, self.default_quality)


def _split(total: int | None, first: int | None, second: int | None) -> tuple[int, int]:
    """(first, second) where either may be missing: the rest of ``total`` goes to the
    missing one; with neither known, all of ``total`` goes to ``first``."""
    if first is None and second is None:
        return total or 0, 0
    if first is None:
        assert second is not None
        return max((total or 0) - second, 0), second
    if second is None:
        return first, max((total or 0) - first, 0)
    return first, second


def _per_million(amount: Decimal | int) -> Decimal:
    return Decimal(amount) / PER_MILLION


def _pick(
    table: Mapping[str, Mapping[str, _N]],
    shape: Shape,
    default_size: str | None,
    default_quality: str | None,
) -> _N:
    """The entry for the shape's size and quality, leaning expensive when unsure."""
    row = _row(table, shape, default_size)
    if row is None:
        return max(value for row_ in table.values() for value in row_.values())
    if ANY_QUALITY in row:
        return row[ANY_QUALITY]
    quality = shape.quality if shape.quality not in (None, "auto") else default_quality
    if quality is not None and quality in row:
        return row[quality]
    return max(row.values())


def _row(
    table: Mapping[str, Mapping[str, _N]], shape: Shape, default_size: str | None
) -> Mapping[str, _N] | None:
    size = shape.size
    if size is not None:
        found = table.get(size) or table.get(size.upper()) or table.get(size.lower())
        if found is not None:
            return found
    ratio = _ratio(shape)
    if ratio is not None:
        sized = {key: _dims(key) for key in table}
        candidates = [(key, dims) for key, dims in sized.items() if dims is not None]
        if candidates:
            best = min(candidates, key=lambda kv: abs(math.log(kv[1][0] / kv[1][1]) - ratio))
            return table[best[0]]
    if size is None or size == "auto":
        for key in (default_size, DEFAULT_KEY):
            if key is not None and key in table:
                return table[key]
    return table.get(DEFAULT_KEY)


def _dims(size: str) -> tuple[int, int] | None:
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    return (w, h) if w > 0 and h > 0 else None


def _ratio(shape: Shape) -> float | None:
    """log(width / height) of the requested size or aspect ratio, if it names one."""
    if shape.size is not None:
        dims = _dims(shape.size)
        if dims is not None:
            return math.log(dims[0] / dims[1])
    if shape.aspect_ratio:
        w, sep, h = shape.aspect_ratio.partition(":")
        if sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0:
            return math.log(int(w) / int(h))
    return None


# -- the book ---------------------------------------------------------------------------


class PriceBook:
    """Every known model's prices. Immutable; ``with_overrides`` returns a new book."""

    __slots__ = ("_models", "_resolved", "_usage_costs", "currency")

    def __init__(self, models: Mapping[str, ModelPrice], currency: str = "USD") -> None:
        self._models = dict(models)
        self.currency = currency
        #: name -> prices (or None), remembered: aliases resolve once, not per attempt
        self._resolved: dict[str, ModelPrice | None] = {}
        #: (model, usage, tier) -> cost, for token-priced models (a pure function of those)
        self._usage_costs: dict[tuple[str, Usage, str], Decimal | None] = {}

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        return dict(self._models)

    def get(self, model: str) -> ModelPrice | None:
        """The prices of ``model``: by exact name (``models/`` prefix dropped), else by
        the canonical name the model catalogue resolves an alias to; None if unknown."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        name = model.removeprefix("models/")
        found = self._models.get(name)
        if found is None:
            from . import default_catalogue

            spec = default_catalogue().get(name)
            if spec is not None:
                found = self._models.get(spec.name)
        if len(self._resolved) < MAX_RESOLVED:
            self._resolved[model] = found
        return found

    def usage_cost(self, prices: ModelPrice, usage: Usage, shape: Shape) -> Decimal | None:
        """``prices.usage_cost(usage, shape)`` for one of this book's models, remembered
        when it depends on the usage and the tier alone (token prices, no per-image table):
        a service sees the same few usages over and over."""
        if prices.per_image:
            return prices.usage_cost(usage, shape)
        key = (prices.model, usage, shape.tier)
        memo = self._usage_costs
        try:
            return memo[key]
        except KeyError:
            pass
        amount = prices.usage_cost(usage, shape)  # PriceUnknown propagates, not remembered
        if len(memo) >= MAX_RESOLVED:
            memo.clear()
        memo[key] = amount
        return amount

    def require(self, model: str) -> ModelPrice:
        found = self.get(model)
        if found is None:
            raise PriceUnknown(
                f"no price is known for model {model!r}; add it under 'prices' in the policy file",
                model=model,
            )
        return found

    def with_overrides(self, overrides: Mapping[str, Any], path: str = "prices") -> PriceBook:
        """A new book where each ``{model: {field: value}}`` replaces those fields
        (or adds the model). Bad values raise ``ConfigError`` naming the field."""
        if not isinstance(overrides, Mapping):
            raise ConfigError(path, "must be a mapping of model name to prices")
        models = dict(self._models)
        for name, entry in overrides.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(path, "model names must be non-empty strings")
            where = f"{path}.{name}"
            base = models.get(name, ModelPrice(model=name))
            models[name] = _merge(base, entry, where)
        return PriceBook(models, self.currency)

    def __repr__(self) -> str:
        return f"PriceBook({len(self._models)} models, currency={self.currency!r})"


def parse_prices(data: object, path: str = "prices") -> PriceBook:
    """A ``PriceBook`` from the JSON shape of ``prices.json``; ``ConfigError`` if malformed."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, "must be an object with 'models'")
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or not currency:
        raise ConfigError(f"{path}.currency", "must be a currency code")
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise ConfigError(f"{path}.models", "must be an object of model name to prices")
    return PriceBook({}, currency).with_overrides(models, f"{path}.models")


@lru_cache(maxsize=1)
def default_prices() -> PriceBook:
    """The prices shipped with genguard (read once; the book is immutable)."""
    text = resources.files(__package__ or "genguard.catalogue").joinpath("prices.json").read_text()
    return parse_prices(json.loads(text), "prices.json")


# -- parsing one model's entry -------------------------------------------------------------

_FIELDS = frozenset(
    {
        "provider", "source", "as_of", "tokens", "output_image_tokens", "per_image",
        "input_image_tokens", "default_size", "default_quality",
        "reserve_text_output_tokens", "tiers",
    }
)  # fmt: skip


def _merge(base: ModelPrice, entry: object, where: str) -> ModelPrice:
    if not isinstance(entry, Mapping):
        raise ConfigError(where, "must be an object of price fields")
    unknown = sorted(str(k) for k in entry if k not in _FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", f"unknown price field; use one of {', '.join(sorted(_FIELDS))}"
        )
    changes: dict[str, Any] = {}
    for key in ("provider", "source", "as_of", "default_size", "default_quality"):
        if key in entry:
            changes[key] = _text(entry[key], f"{where}.{key}")
    for key in ("input_image_tokens", "reserve_text_output_tokens"):
        if key in entry:
            changes[key] = _count(entry[key], f"{where}.{key}")
    if "tokens" in entry:
        tokens = _mapping(entry["tokens"], f"{where}.tokens")
        merged = dict(base.tokens)
        for kind, value in tokens.items():
            if kind not in TOKEN_KINDS:
                raise ConfigError(
                    f"{where}.tokens.{kind}",
                    f"unknown token kind; use one of {', '.join(TOKEN_KINDS)}",
                )
            merged[kind] = _money(value, f"{where}.tokens.{kind}")
        changes["tokens"] = merged
    if "tiers" in entry:
        tiers = _mapping(entry["tiers"], f"{where}.tiers")
        merged_tiers = dict(base.tiers)
        for tier, value in tiers.items():
            factor = _money(value, f"{where}.tiers.{tier}")
            if factor > 100:
                raise ConfigError(f"{where}.tiers.{tier}", "a tier multiplier must be <= 100")
            merged_tiers[str(tier).lower()] = factor
        changes["tiers"] = merged_tiers
    if "output_image_tokens" in entry:
        changes["output_image_tokens"] = _table(
            entry["output_image_tokens"], f"{where}.output_image_tokens", _count
        )
    if "per_image" in entry:
        changes["per_image"] = _table(entry["per_image"], f"{where}.per_image", _money)
    return replace(base, **changes)


def _table(value: object, where: str, parse: Any) -> dict[str, dict[str, Any]]:
    """``{size: price}`` or ``{size: {quality: price}}``; flat rows get the ``*`` quality."""
    rows = _mapping(value, where)
    out: dict[str, dict[str, Any]] = {}
    for size, row in rows.items():
        here = f"{where}.{size}"
        if isinstance(row, Mapping):
            if not row:
                raise ConfigError(here, "must not be empty")
            out[size] = {str(q): parse(v, f"{here}.{q}") for q, v in row.items()}
        else:
            out[size] = {ANY_QUALITY: parse(row, here)}
    return out


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(where, "must be a non-empty object")
    if len(value) > 256:
        raise ConfigError(where, "has more than 256 entries")
    return {str(k): v for k, v in value.items()}


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise ConfigError(where, "must be a string of at most 2000 characters")
    return value


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise ConfigError(where, f"must be a whole number of tokens in [0, {MAX_TOKENS}]")
    return value


def _money(value: object, where: str) -> Decimal:
    """A non-negative decimal from a string or number (strings keep every digit)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(where, f'must be a price such as "0.04", got {type(value).__name__}')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(where, f'must be a price such as "0.04", got {value!r}') from None
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        raise ConfigError(where, f"must be a finite price in [0, {MAX_PRICE}], got {value!r}")
    return amount


def round_up(amount: Decimal, places: int = 9) -> Decimal:
    """``amount`` rounded up to ``places`` decimals (reservations never round down)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def render_table(book: PriceBook | None = None) -> str:
    """The price book as a Markdown table (docs/cost.md carries it; a test keeps it current)."""
    book = book or default_prices()
    lines = [
        "| model | prices (USD) | tiers | as of | source |",
        "|---|---|---|---|---|",
    ]
    for name, price in book.models.items():
        if price.tokens:
            shown = ", ".join(f"{kind} {value}" for kind, value in price.tokens.items())
            what = f"per 1M tokens: {shown}"
        else:
            rows = []
            for size, row in price.per_image.items():
                cells = ", ".join(
                    str(v) if q == ANY_QUALITY else f"{q} {v}" for q, v in row.items()
                )
                rows.append(f"{size}: {cells}")
            what = "per image: " + "; ".join(rows)
        tiers = ", ".join(f"{t} ×{f}" for t, f in price.tiers.items())
        lines.append(f"| `{name}` | {what} | {tiers} | {price.as_of} | {price.source} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "TOKEN_KINDS",
    "ModelPrice",
    "PriceBook",
    "Shape",
    "default_prices",
    "parse_prices",
    "render_table",
    "round_up",
]
