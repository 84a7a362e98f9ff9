"""Both providers against the embedded simulator: real generate, edit and multi-turn calls,
and the simulator's faults arriving as the right typed errors."""

from __future__ import annotations

import pytest
from provider_support import PNG

from genguard import Client, GenerationRequest
from genguard.errors import (
    AuthenticationError,
    ContentBlocked,
    ProviderUnavailable,
    RateLimited,
    ResponseError,
)
from genguard.model import Image, Part, Turn
from genguard.providers.gemini import GeminiProvider, history_turn
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.sim import INVALID_KEY, Reply, Simulator

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_gemini_clean_generate(sim: Simulator) -> None:
    provider = GeminiProvider("sim-key", base_url=sim.base_url)
    async with Client(provider) as client:
        result = await client.generate(GenerationRequest(prompt="a red fox", seed=0))
    assert result.provider == "gemini" and result.images
    assert all(image.data.startswith(PNG_MAGIC) for image in result.images)
    assert result.request_id and result.finish_reason == "STOP"
    record = sim.log[-1]
    assert (record.api, record.prompt, record.status) == ("gemini", "a red fox", 200)


async def test_openai_clean_generate_and_edit(sim: Simulator) -> None:
    provider = OpenAIProvider("sim-key", base_url=sim.base_url)
    async with Client(provider) as client:
        generated = await client.generate(GenerationRequest(prompt="a red fox", n=2))
        edited = await client.generate(
            GenerationRequest(prompt="make it blue", images=(Image(PNG), Image(PNG)))
        )
    assert len(generated.images) == 2 and generated.request_id
    assert all(image.data.startswith(PNG_MAGIC) for image in generated.images + edited.images)
    assert [r.path for r in sim.log] == ["/v1/images/generations", "/v1/images/edits"]


async def test_gemini3_multiturn_passes_strict_signature_check() -> None:
    async with Simulator(profile="clean", strict_signatures=True) as sim:
        provider = GeminiProvider(
            "sim-key", base_url=sim.base_url, model="gemini-3-pro-image-preview"
        )
        async with Client(provider) as client:
            first = await client.generate(GenerationRequest(prompt="a mug"))
            history = (Turn("user", (Part(text="a mug"),)), history_turn(first))
            second = await client.generate(
                GenerationRequest(prompt="warmer light", history=history)
            )
        assert first.thought_signatures and second.images
        assert [r.status for r in sim.log] == [200, 200]


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_invalid_key_is_authentication_error(sim: Simulator, api: str) -> None:
    provider = (
        GeminiProvider(INVALID_KEY, base_url=sim.base_url)
        if api == "gemini"
        else OpenAIProvider(INVALID_KEY, base_url=sim.base_url)
    )
    async with Client(provider) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.generate("x")
    assert INVALID_KEY not in str(info.value)


async def test_sim_faults_map_to_typed_errors(sim: Simulator) -> None:
    sim.script("gemini", [
        Reply.status(429, retry_info="1.5s"),
        Reply.status(503, retry_after=3),
        Reply.blocked("image_safety"),
        Reply.blocked("prompt"),
        Reply.html(502),
        Reply.reset(),
        Reply.truncated(close=False),
        Reply.huge(200_000),
    ])  # fmt: skip
    provider = GeminiProvider("sim-key", base_url=sim.base_url)
    transport = HttpTransport(max_response_bytes=100_000)
    async with Client(provider, transport=transport) as client:
        errors = []
        for _ in range(8):
            with pytest.raises(Exception) as info:
                await client.generate("x")
            errors.append(info.value)
    await transport.aclose()
    limited, unavailable, out_block, in_block, html, reset, truncated, huge = errors
    assert isinstance(limited, RateLimited)
    assert (limited.retry_after, limited.hint_source) == (1.5, "retry-info")
    assert isinstance(unavailable, ProviderUnavailable) and unavailable.retry_after == 3.0
    assert isinstance(out_block, ContentBlocked) and out_block.stage == "output"
    assert isinstance(in_block, ContentBlocked) and in_block.stage == "input"
    assert isinstance(html, ProviderUnavailable) and html.status == 502
    assert isinstance(reset, ProviderUnavailable)
    assert type(truncated) is ResponseError
    assert type(huge) is ResponseError and "cap" in str(huge)


async def test_openai_sim_rate_limit_and_moderation(sim: Simulator) -> None:
    sim.script("openai", [
        Reply.status(429, retry_after_ms=250, retry_after=9),
        Reply.blocked("moderation", categories=("violence",)),
    ])  # fmt: skip
    provider = OpenAIProvider("sim-key", base_url=sim.base_url)
    async with Client(provider) as client:
        with pytest.raises(RateLimited) as limited:
            await client.generate("x")
        with pytest.raises(ContentBlocked) as blocked:
            await client.generate("x")
    assert (limited.value.retry_after, limited.value.hint_source) == (0.25, "retry-after-ms")
    assert blocked.value.category == "violence" and blocked.value.reason == "moderation_blocked"
