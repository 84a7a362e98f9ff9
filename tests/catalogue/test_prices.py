"""The price table: shipped data, pricing from usage, estimates, overrides, bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.catalogue.prices import (
    ModelPrice,
    PriceBook,
    Shape,
    default_prices,
    parse_prices,
)
from genguard.errors import ConfigError, PriceUnknown
from genguard.model import GenerationRequest, Image, Part, Turn, Usage

PRICES_JSON = Path(__file__).parents[2] / "src" / "genguard" / "catalogue" / "prices.json"


def test_every_shipped_model_names_its_source_and_date() -> None:
    book = default_prices()
    raw = json.loads(PRICES_JSON.read_text())
    assert set(book.models) == set(raw["models"])
    for name, price in book.models.items():
        assert price.source, name
        assert len(price.as_of) == 10 and price.as_of[4] == "-", name
        assert price.tokens or price.per_image, name
        assert price.tiers.get("standard") == 1, name


def test_gpt_image_1_usage_is_priced_per_token_kind() -> None:
    price = default_prices().require("gpt-image-1")
    usage = Usage(
        input_tokens=1000,
        input_text_tokens=600,
        input_image_tokens=400,
        output_tokens=4160,
        image_tokens=4160,
        output_text_tokens=0,
    )
    expected = (600 * Decimal(5) + 400 * Decimal(10) + 4160 * Decimal(40)) / 1_000_000
    assert price.usage_cost(usage, Shape()) == expected


def test_cached_input_is_priced_at_the_cached_rate() -> None:
    price = default_prices().require("gpt-image-1")
    usage = Usage(input_text_tokens=1000, input_image_tokens=0, cached_tokens=400, image_tokens=0)
    expected = (600 * Decimal(5) + 400 * Decimal("1.25")) / 1_000_000
    assert price.usage_cost(usage, Shape()) == expected


def test_gemini_thoughts_are_billed_as_output() -> None:
    price = default_prices().require("gemini-3-pro-image")
    base = Usage(input_text_tokens=10, image_tokens=1120, output_text_tokens=12)
    with_thoughts = Usage(
        input_text_tokens=10, image_tokens=1120, output_text_tokens=12, thoughts_tokens=200
    )
    extra = price.usage_cost(with_thoughts, Shape()) - price.usage_cost(base, Shape())  # type: ignore[operator]
    assert extra == 200 * Decimal(12) / 1_000_000


def test_batch_is_half_price_and_an_unknown_tier_is_a_typed_error() -> None:
    price = default_prices().require("gemini-2.5-flash-image")
    usage = Usage(input_text_tokens=10, image_tokens=1290, output_text_tokens=0)
    standard = price.usage_cost(usage, Shape())
    batch = price.usage_cost(usage, Shape(tier="batch"))
    assert standard is not None and batch == standard / 2
    with pytest.raises(PriceUnknown):
        price.usage_cost(usage, Shape(tier="priority"))


def test_per_image_models_price_by_size_and_quality() -> None:
    book = default_prices()
    dalle3 = book.require("dall-e-3")
    assert dalle3.usage_cost(Usage(images=2), Shape(size="1024x1792", quality="hd")) == Decimal(
        "0.24"
    )
    assert dalle3.estimate(Shape(size="1024x1024")) == Decimal("0.04")  # default standard
    imagen = book.require("imagen-4.0-ultra-generate-001")
    assert imagen.estimate(Shape(n=3)) == Decimal("0.18")
    assert imagen.usage_cost(Usage(images=0), Shape()) == 0


def test_estimate_follows_size_quality_n_and_input_images() -> None:
    price = default_prices().require("gpt-image-1")
    low = price.estimate(Shape(size="1024x1024", quality="low"))
    high = price.estimate(Shape(size="1024x1024", quality="high"))
    wide = price.estimate(Shape(size="1536x1024", quality="high"))
    assert low < high < wide
    # auto quality is priced at the most expensive one
    assert price.estimate(Shape(size="1024x1024", quality="auto")) == high
    assert price.estimate(Shape(size="1024x1024", quality="high", n=3)) == 3 * high
    edit = price.estimate(Shape(size="1024x1024", quality="high", input_images=2))
    assert edit - high == 2 * 323 * Decimal(10) / 1_000_000
    # an aspect ratio picks the size of the nearest shape
    assert price.estimate(Shape(aspect_ratio="3:2", quality="high")) == wide


def test_maximum_estimate_bounds_the_expected_one() -> None:
    price = default_prices().require("gemini-3.1-flash-image")
    shape = Shape(size="4K", prompt_chars=400, prompt_bytes=400)
    assert price.estimate(shape, maximum=True) > price.estimate(shape)
    assert price.estimate(Shape(size="512")) < price.estimate(Shape(size="4K"))


def test_shape_reads_the_request() -> None:
    request = GenerationRequest(
        prompt="héllo",
        size="1024x1536",
        n=2,
        images=(Image(b"x"),),
        history=(Turn("model", (Part(text="ok"), Part(image=Image(b"y")))),),
        options={"quality": "high", "service_tier": "Batch"},
    )
    shape = Shape.of(request)
    assert shape == Shape(
        size="1024x1536",
        quality="high",
        n=2,
        input_images=2,
        prompt_chars=7,
        prompt_bytes=8,
        tier="batch",
    )


def test_overrides_replace_single_fields_and_add_models() -> None:
    book = default_prices().with_overrides(
        {
            "gpt-image-1": {"tokens": {"image_output": "35"}, "as_of": "2026-12-01"},
            "my-model": {"per_image": {"default": 0.5}, "source": "contract"},
        }
    )
    changed = book.require("gpt-image-1")
    assert changed.tokens["image_output"] == Decimal(35)
    assert changed.tokens["text_input"] == Decimal(5)  # untouched fields stay
    assert changed.as_of == "2026-12-01"
    assert book.require("my-model").estimate(Shape(n=2)) == Decimal("1.0")
    assert default_prices().require("gpt-image-1").tokens["image_output"] == Decimal(40)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"m": {"tokens": {"image_output": "-1"}}}, "prices.m.tokens.image_output"),
        ({"m": {"tokens": {"pixels": "1"}}}, "prices.m.tokens.pixels"),
        ({"m": {"per_image": {"default": "abc"}}}, "prices.m.per_image.default"),
        ({"m": {"per_image": {"default": "NaN"}}}, "prices.m.per_image.default"),
        ({"m": {"colour": "red"}}, "prices.m.colour"),
        ({"m": {"tiers": {"batch": "1000"}}}, "prices.m.tiers.batch"),
        ({"m": {"input_image_tokens": -3}}, "prices.m.input_image_tokens"),
        ({"m": "cheap"}, "prices.m"),
    ],
)
def test_bad_overrides_name_the_field(overrides: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        default_prices().with_overrides(overrides)
    assert caught.value.path == path


def test_unknown_model_is_a_typed_error() -> None:
    with pytest.raises(PriceUnknown) as caught:
        default_prices().require("no-such-model")
    assert caught.value.model == "no-such-model"
    assert default_prices().get("models/gemini-2.5-flash-image") is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
price_keys = st.sampled_from(
    ["tokens", "per_image", "tiers", "output_image_tokens", "input_image_tokens", "source"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "models": st.dictionaries(
                    st.text(max_size=8), st.dictionaries(price_keys, json_values)
                )
            }
        ),
    )
)
def test_parser_never_fails_untyped(data: object) -> None:
    try:
        book = parse_prices(data)
    except ConfigError:
        return
    for price in book.models.values():
        assert isinstance(price, ModelPrice)
        try:
            amount = price.estimate(Shape(n=2, prompt_chars=40, prompt_bytes=40), maximum=True)
        except PriceUnknown:
            continue
        assert amount >= 0


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        Usage,
        input_tokens=st.none() | st.integers(0, 10**6),
        output_tokens=st.none() | st.integers(0, 10**6),
        image_tokens=st.none() | st.integers(0, 10**6),
        input_text_tokens=st.none() | st.integers(0, 10**6),
        input_image_tokens=st.none() | st.integers(0, 10**6),
        output_text_tokens=st.none() | st.integers(0, 10**6),
        cached_tokens=st.none() | st.integers(0, 10**6),
        thoughts_tokens=st.none() | st.integers(0, 10**6),
        images=st.none() | st.integers(0, 10),
    ),
    st.sampled_from(sorted(default_prices().models)),
)
def test_any_usage_prices_to_a_non_negative_amount(usage: Usage, model: str) -> None:
    amount = default_prices().require(model).usage_cost(usage, Shape())
    assert amount is None or amount >= 0


def test_book_repr_and_currency() -> None:
    book = PriceBook({}, "EUR")
    assert "EUR" in repr(book)
    assert parse_prices({"currency": "EUR", "models": {}}).currency == "EUR"


def test_aliases_resolve_through_the_catalogue() -> None:
    book = default_prices()
    assert book.get("gpt-image-2-2026-04-21") is book.get("gpt-image-2")
    assert book.get("gpt-image-1.5-2025-12-16") is not None
