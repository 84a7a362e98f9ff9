"""Every reference fixture, replayed over real HTTP, gets its billing status and cost.

A 2xx answer was billed (usage came back), even when it carried no image; a
2xx body genguard could not read was billed for an unknown amount (uncertain);
an error status was not billed (rejected).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_support import load_fixture, script_fixture
from test_fixtures import EXPECTED, provider_for

from genguard import Client, GenerationRequest, GenerationResult
from genguard.errors import GenGuardError, ResponseError
from genguard.providers import gemini, openai
from genguard.sim import Reply, Simulator

M = Decimal(1_000_000)


def expected_status(status: int, outcome: object) -> str:
    if not 200 <= status < 300:
        return "rejected"
    if isinstance(outcome, ResponseError):
        return "uncertain"
    return "billed"


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_billing_status(name: str, sim: Simulator) -> None:
    data = script_fixture(sim, name)
    async with Client(provider_for(EXPECTED[name].provider, sim.base_url)) as client:
        call = client.new_call(GenerationRequest(prompt="a red fox"))
        outcome: object
        try:
            outcome = await client.handler(call)
        except GenGuardError as error:
            outcome = error
    [charge] = call.billing.charges
    assert charge.status == expected_status(data["status"], outcome), name
    if isinstance(outcome, GenGuardError):
        assert outcome.billing == charge.status
    if charge.status == "billed":
        assert charge.amount is not None and charge.amount >= 0


async def test_gemini_usage_per_modality_and_thoughts(sim: Simulator) -> None:
    data = load_fixture("gemini_200_image_thought_signature.json")
    sim.script("*", [Reply.raw(data["status"], data["body"], data["headers"])])
    provider = provider_for("gemini", sim.base_url)
    async with Client(provider) as client:
        result = await client.generate("warmer light", model="gemini-3-pro-image")
    usage = result.usage
    assert (usage.input_text_tokens, usage.input_image_tokens) == (32, 1380)
    assert (usage.output_text_tokens, usage.image_tokens, usage.thoughts_tokens) == (12, 1120, 217)
    expected = (32 * 2 + 1380 * 2 + 12 * 12 + 1120 * 120 + 217 * 12) / M
    assert result.cost is not None and result.cost.settled == expected


async def test_openai_usage_split_and_cost(sim: Simulator) -> None:
    data = load_fixture("openai_200_gpt_image.json")
    sim.script("*", [Reply.raw(data["status"], data["body"], data["headers"])])
    async with Client(provider_for("openai", sim.base_url)) as client:
        result = await client.generate("a fox")
    usage = result.usage
    assert (usage.input_text_tokens, usage.input_image_tokens) == (17, 0)
    assert (usage.image_tokens, usage.output_text_tokens) == (6208, 0)
    assert result.cost is not None
    assert result.cost.settled == (17 * 5 + 6208 * 40) / M


async def test_imagen_is_billed_per_image(sim: Simulator) -> None:
    data = load_fixture("imagen_200_predict.json")
    sim.script("*", [Reply.raw(data["status"], data["body"], data["headers"])])
    async with Client(provider_for("imagen", sim.base_url)) as client:
        result = await client.generate("a fox")
    assert result.usage.images == len(result.images)
    assert result.cost is not None
    assert result.cost.settled == Decimal("0.04") * len(result.images)


async def test_dalle_without_usage_is_priced_per_image(sim: Simulator) -> None:
    body = {"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}, {"b64_json": "iVBORw0KGgo="}]}
    sim.script("*", [Reply.raw(200, body, {"content-type": "application/json"})])
    async with Client(provider_for("openai", sim.base_url)) as client:
        result: GenerationResult = await client.generate(
            "a fox", model="dall-e-3", size="1792x1024", options={"quality": "hd"}
        )  # dall-e-3 takes n=1 only (the catalogue refuses more before sending)
    assert result.cost is not None and result.cost.settled == Decimal("0.12") * len(result.images)


usage_values = st.one_of(
    st.none(), st.integers(-5, 10**7), st.text(max_size=6), st.booleans(), st.floats()
)
detail = st.dictionaries(
    st.sampled_from(["text_tokens", "image_tokens", "cached_tokens"]), usage_values
)
openai_usage = st.one_of(
    usage_values,
    st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": usage_values,
            "output_tokens": usage_values,
            "total_tokens": usage_values,
            "input_tokens_details": st.one_of(detail, usage_values),
            "output_tokens_details": st.one_of(detail, usage_values),
        },
    ),
)
modality = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"modality": st.sampled_from(["TEXT", "IMAGE", "AUDIO", 3]), "tokenCount": usage_values}
        ),
        usage_values,
    ),
    max_size=4,
)
gemini_usage = st.one_of(
    usage_values,
    st.fixed_dictionaries(
        {},
        optional={
            "promptTokenCount": usage_values,
            "candidatesTokenCount": usage_values,
            "thoughtsTokenCount": usage_values,
            "cachedContentTokenCount": usage_values,
            "trafficType": usage_values,
            "promptTokensDetails": st.one_of(modality, usage_values),
            "candidatesTokensDetails": st.one_of(modality, usage_values),
        },
    ),
)


def _non_negative(usage: Any) -> None:
    for name in usage.__slots__:
        value = getattr(usage, name)
        assert value is None or isinstance(value, str) or value >= 0, name


@settings(max_examples=300, deadline=None)
@given(openai_usage, st.integers(0, 4))
def test_openai_usage_parser_never_fails(raw: object, images: int) -> None:
    _non_negative(openai._usage(raw, images))


@settings(max_examples=300, deadline=None)
@given(gemini_usage)
def test_gemini_usage_parser_never_fails(raw: object) -> None:
    usage = gemini._usage(raw)
    _non_negative(usage)
    assert usage.traffic_type is None or len(usage.traffic_type) <= 40
