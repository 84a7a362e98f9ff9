"""The SDK adapters check requests against the catalogue too: nothing reaches the SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from catalogue_support import TODAY, clock_on
from google import genai

from genguard import Client, GenerationRequest
from genguard.errors import InvalidRequest
from genguard.providers.genai_sdk import GenAISDKProvider
from genguard.providers.openai_sdk import OpenAISDKProvider
from genguard.sim import Simulator


async def test_the_openai_sdk_adapter_refuses_locally() -> None:
    async with Simulator() as sim:
        client = openai.AsyncOpenAI(api_key="sk-test-000000000000", base_url=f"{sim.base_url}/v1")
        provider: Any = OpenAISDKProvider(client, model="dall-e-3")
        try:
            async with Client(provider, clock=clock_on(TODAY)) as genguard_client:
                with pytest.raises(InvalidRequest) as info:
                    await genguard_client.generate(GenerationRequest(prompt="x", n=2))
        finally:
            await client.close()
        assert sim.log == []
    assert (info.value.field, info.value.allowed) == ("n", ("1",))


async def test_the_genai_sdk_adapter_refuses_locally() -> None:
    async with Simulator() as sim:
        options = genai.types.HttpOptions(base_url=sim.base_url, api_version="v1beta")
        client = genai.Client(api_key="AIza-test-0000000000000000000000", http_options=options)
        provider: Any = GenAISDKProvider(client, model="gemini-3-pro-image")
        try:
            async with Client(provider, clock=clock_on(TODAY)) as genguard_client:
                with pytest.raises(InvalidRequest) as info:
                    await genguard_client.generate(GenerationRequest(prompt="x", size="512"))
                ok = await genguard_client.generate(
                    GenerationRequest(prompt="x", aspect_ratio="21:9", size="4K")
                )
        finally:
            await client.aio.aclose()
        body = sim.log[-1].body
    assert info.value.field == "size" and info.value.allowed == ("1K", "2K", "4K", "WIDTHxHEIGHT")
    assert ok.images
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "21:9", "imageSize": "4K"}
