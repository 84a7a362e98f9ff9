"""The 2026 wire surface over HTTP: Gemini v1 and v1beta, every part kind kept in history,
image finish and block reasons typed, Imagen on ``:predict`` with RAI filtering typed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from catalogue_support import PNG, TODAY, clock_on

from genguard import Client, GenerationRequest
from genguard.errors import ContentBlocked, NoImageGenerated
from genguard.model import Turn
from genguard.providers.gemini import GeminiProvider, history_turn
from genguard.providers.imagen import RAI_FILTERED, ImagenProvider
from genguard.sim import Reply, Simulator

IMAGE_B64 = base64.b64encode(PNG).decode("ascii")


def _ok(body: dict[str, Any]) -> Reply:
    return Reply.fixture({"status": 200, "headers": {}, "body": body})


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_both_gemini_api_versions_are_served(version: str) -> None:
    async with Simulator() as sim:
        provider = GeminiProvider(
            "k", model="gemini-3-pro-image", base_url=sim.base_url, api_version=version
        )
        async with Client(provider, clock=clock_on(TODAY)) as client:
            result = await client.generate(GenerationRequest(prompt="a fox", aspect_ratio="4:3"))
    assert result.images
    assert sim.log[-1].path == f"/{version}/models/gemini-3-pro-image:generateContent"


def test_an_unknown_api_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v1beta, v1"):
        GeminiProvider("k", api_version="v2")


async def test_every_part_kind_survives_the_round_trip_through_history() -> None:
    parts = [
        {"text": "Let me look that up.", "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "lookup_palette", "args": {"mood": "calm"}}},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://files.example/abc"}},
        {"inlineData": {"mimeType": "image/png", "data": IMAGE_B64}, "thoughtSignature": "c2ln"},
    ]
    body = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    async with Simulator(strict_signatures=False) as sim:
        sim.script("gemini", [_ok(body)])
        provider = GeminiProvider("k", model="gemini-3-pro-image", base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            first = await client.generate("draw a calm room")
            assert len(first.parts) == len(parts) and len(first.images) == 1
            history: tuple[Turn, ...] = (history_turn(first),)
            await client.generate(GenerationRequest(prompt="warmer light", history=history))
        replayed = sim.log[-1].body["contents"][0]
    assert replayed == {"role": "model", "parts": parts}  # byte for byte, nothing lost


@pytest.mark.parametrize(
    ("reason", "blocked", "retryable"),
    [
        ("IMAGE_SAFETY", True, False),
        ("IMAGE_PROHIBITED_CONTENT", True, False),
        ("IMAGE_RECITATION", True, False),
        ("NO_IMAGE", False, True),
        ("IMAGE_OTHER", False, True),
    ],
)
async def test_image_finish_reasons_are_typed(reason: str, blocked: bool, retryable: bool) -> None:
    body = {
        "candidates": [{"finishReason": reason, "finishMessage": "Unable to show.", "index": 0}],
        "responseId": "resp-1",
    }
    async with Simulator() as sim:
        sim.script("gemini", [_ok(body)])
        provider = GeminiProvider("k", model="gemini-3.1-flash-image", base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            with pytest.raises((ContentBlocked, NoImageGenerated)) as info:
                await client.generate("a fox")
    error = info.value
    if blocked:
        assert isinstance(error, ContentBlocked)
        assert (error.stage, error.reason, error.source) == ("output", reason, "provider")
    else:
        assert isinstance(error, NoImageGenerated)
        assert (error.finish_reason, error.code, error.retryable) == (reason, reason, retryable)
    assert error.request_id == "resp-1"


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "MODEL_ARMOR", "JAILBREAK"])
async def test_prompt_block_reasons_are_typed(reason: str) -> None:
    body = {"promptFeedback": {"blockReason": reason}, "responseId": "resp-2"}
    async with Simulator() as sim:
        sim.script("gemini", [_ok(body)])
        provider = GeminiProvider("k", model="gemini-3-pro-image", base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            with pytest.raises(ContentBlocked) as info:
                await client.generate("a fox")
    assert (info.value.stage, info.value.reason) == ("input", reason)
    assert not info.value.retryable


async def test_imagen_predict_is_served_with_its_parameters() -> None:
    async with Simulator() as sim:
        provider = ImagenProvider("k", model="imagen-4.0-ultra-generate-001", base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            result = await client.generate(
                GenerationRequest(
                    prompt="a heron",
                    n=3,
                    aspect_ratio="3:4",
                    seed=0,
                    options={"image_size": "2K", "output_format": "jpeg", "output_compression": 80},
                )
            )
    assert len(result.images) == 3 and result.provider == "imagen"
    params = sim.log[-1].body["parameters"]
    assert params["sampleCount"] == 3 and params["aspectRatio"] == "3:4"
    assert params["sampleImageSize"] == "2K" and params["seed"] == 0
    assert params["outputOptions"] == {"mimeType": "image/jpeg", "compressionQuality": 80}
    assert sim.log[-1].path == "/v1beta/models/imagen-4.0-ultra-generate-001:predict"


async def test_imagen_partly_filtered_results_say_so() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.blocked("image_safety")])
        provider = ImagenProvider("k", base_url=sim.base_url)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            result = await client.generate(GenerationRequest(prompt="a crowd", n=3))
    assert len(result.images) == 1 and result.finish_reason == RAI_FILTERED


@pytest.mark.parametrize("include_reason", [True, False])
async def test_imagen_fully_filtered_results_are_typed_blocks(include_reason: bool) -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.blocked("prompt")])
        provider = ImagenProvider("k", base_url=sim.base_url, include_rai_reason=include_reason)
        async with Client(provider, clock=clock_on(TODAY)) as client:
            with pytest.raises(ContentBlocked) as info:
                await client.generate(GenerationRequest(prompt="a crowd", n=2))
    error = info.value
    assert (error.stage, error.reason, error.provider) == ("output", RAI_FILTERED, "imagen")
    expected = "filtered out 2 generated images" if include_reason else "no predictions"
    assert expected in str(error)


async def test_an_image_size_class_and_an_aspect_ratio_go_together() -> None:
    async with Simulator() as sim:
        gemini = GeminiProvider("k", model="gemini-3.1-flash-image", base_url=sim.base_url)
        imagen = ImagenProvider("k", model="imagen-4.0-generate-001", base_url=sim.base_url)
        async with Client(gemini, clock=clock_on(TODAY)) as client:
            await client.generate(GenerationRequest(prompt="x", aspect_ratio="8:1", size="512"))
        image_config = sim.log[-1].body["generationConfig"]["imageConfig"]
        async with Client(imagen, clock=clock_on(TODAY)) as client:
            await client.generate(GenerationRequest(prompt="x", aspect_ratio="3:4", size="2K"))
        params = sim.log[-1].body["parameters"]
    assert image_config == {"aspectRatio": "8:1", "imageSize": "512"}
    assert (params["aspectRatio"], params["sampleImageSize"]) == ("3:4", "2K")
