"""``Shape.of`` takes a short path for a request that is a prompt alone; it must read the
same shape the general path reads, and remembered usage costs must equal fresh ones."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from genguard import GenerationRequest
from genguard.catalogue.prices import Shape, default_prices
from genguard.model import Usage

prompts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@given(
    prompts,
    st.sampled_from([None, "1024x1024", "2K", "auto"]),
    st.sampled_from([None, "16:9", "1:1"]),
    st.integers(1, 4),
)
def test_a_prompt_alone_has_the_shape_the_general_path_reads(
    prompt: str, size: str | None, ratio: str | None, n: int
) -> None:
    request = GenerationRequest(prompt=prompt, size=size, aspect_ratio=ratio, n=n)
    expected = Shape(
        size=size,
        aspect_ratio=ratio,
        quality=None,
        n=n,
        input_images=0,
        prompt_chars=len(prompt),
        prompt_bytes=len(prompt.encode("utf-8", "replace")),
    )
    assert Shape.of(request) == expected
    # An option the shape ignores takes the general path: the same answer.
    assert (
        Shape.of(
            GenerationRequest(
                prompt=prompt, size=size, aspect_ratio=ratio, n=n, options={"unrelated": 1}
            )
        )
        == expected
    )


@given(st.integers(0, 5000), st.integers(0, 5000), st.sampled_from(["standard", "batch"]))
def test_remembered_usage_costs_equal_fresh_ones(inp: int, out: int, tier: str) -> None:
    book = default_prices()
    prices = book.get("gemini-2.5-flash-image")
    assert prices is not None
    usage = Usage(input_tokens=inp, output_tokens=out, image_tokens=out)
    shape = Shape(tier=tier)
    fresh = prices.usage_cost(usage, shape)
    assert book.usage_cost(prices, usage, shape) == fresh
    assert book.usage_cost(prices, usage, shape) == fresh  # and again, from memory
    assert isinstance(fresh, Decimal)
