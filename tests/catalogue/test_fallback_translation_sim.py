"""Fallback keeps the request's meaning, over real HTTP: the primary's simulator is down
(503), the target's simulator records the translated request, and the result says what
changed. Targets that cannot serve the request faithfully are skipped with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from catalogue_support import PNG, TODAY, clock_on

from genguard import Client, GenerationRequest
from genguard.errors import ProviderUnavailable
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.model import Change, GenerationResult, Image
from genguard.providers.base import Provider
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator


def _changes(result: GenerationResult) -> dict[str, tuple[str | None, str | None]]:
    return {c.field: (c.before, c.after) for c in result.changes}


async def _fall_back(
    primary: Provider,
    primary_sim: Simulator,
    targets: list[Provider],
    request: GenerationRequest,
) -> tuple[GenerationResult, dict[str, Any]]:
    """Run ``request`` with the primary's simulator answering 503, then the targets."""
    primary_sim.set_profile("outage", duration=600)
    layer = FallbackLayer([FallbackTarget(t) for t in targets])
    extras: dict[str, Any] = {}

    async def capture(call: Any, next: Any) -> GenerationResult:
        try:
            return await next(call)  # type: ignore[no-any-return]
        finally:
            extras.update(call.extras)

    async with Client(primary, [capture, layer], clock=clock_on(TODAY)) as client:
        try:
            result = await client.generate(request)
        finally:
            await layer.aclose()
    return result, extras


async def test_gemini_to_openai_edit_keeps_ratio_size_count_and_images() -> None:
    async with Simulator() as gemini_sim, Simulator() as openai_sim:
        primary = GeminiProvider("k", model="gemini-3.1-flash-image", base_url=gemini_sim.base_url)
        target = OpenAIProvider("k", model="gpt-image-2", base_url=openai_sim.base_url)
        request = GenerationRequest(
            prompt="put the mug on a walnut desk",
            aspect_ratio="21:9",
            n=2,
            images=(Image(PNG), Image(PNG, "image/png")),
            options={"image_size": "2K", "service_tier": "flex"},
        )
        result, _ = await _fall_back(primary, gemini_sim, [target], request)
        [sent] = [r for r in openai_sim.log if r.api == "openai"]
    assert [r.status for r in gemini_sim.log] == [503]
    assert sent.path == "/v1/images/edits"
    fields = sent.body["fields"]
    assert fields["model"] == "gpt-image-2"
    assert fields["size"] == "2048x880"  # 21:9 at the 2K long side, sides multiple of 16
    assert fields["n"] == "2"
    assert [f["name"] for f in sent.body["files"]] == ["image[]", "image[]"]
    assert "service_tier" not in fields and "image_size" not in fields
    assert (result.provider, result.model, len(result.images)) == ("openai", "gpt-image-2", 2)
    assert _changes(result) == {
        "aspect_ratio": ("21:9", None),
        "size": (None, "2048x880"),
        "options.image_size": ("2K", None),
        "options.service_tier": ("flex", None),
    }
    assert all(isinstance(c, Change) and c.reason for c in result.changes)


async def test_gemini_to_a_fixed_size_openai_model_picks_the_nearest_size() -> None:
    async with Simulator() as gemini_sim, Simulator() as openai_sim:
        primary = GeminiProvider("k", model="gemini-3-pro-image", base_url=gemini_sim.base_url)
        target = OpenAIProvider("k", model="gpt-image-1.5", base_url=openai_sim.base_url)
        request = GenerationRequest(prompt="a poster", aspect_ratio="9:16")
        result, _ = await _fall_back(primary, gemini_sim, [target], request)
        [sent] = [r for r in openai_sim.log if r.api == "openai"]
    assert sent.body["size"] == "1024x1536" and sent.body["n"] == 1
    assert _changes(result) == {"aspect_ratio": ("9:16", None), "size": (None, "1024x1536")}


async def test_openai_to_gemini_edit_maps_size_to_ratio_and_image_size() -> None:
    async with Simulator() as openai_sim, Simulator() as gemini_sim:
        primary = OpenAIProvider("k", model="gpt-image-2", base_url=openai_sim.base_url)
        target = GeminiProvider("k", model="gemini-3-pro-image", base_url=gemini_sim.base_url)
        request = GenerationRequest(
            prompt="make the sky stormy",
            size="1536x1024",
            n=1,
            images=(Image(PNG), Image(PNG), Image(PNG)),
            options={"quality": "high", "output_format": "png"},
        )
        result, _ = await _fall_back(primary, openai_sim, [target], request)
        [sent] = [r for r in gemini_sim.log if r.api == "gemini"]
    config = sent.body["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "3:2", "imageSize": "2K"}
    assert "candidateCount" not in config  # n=1
    user_parts = sent.body["contents"][-1]["parts"]
    assert user_parts[0] == {"text": "make the sky stormy"}
    assert sum(1 for p in user_parts if "inlineData" in p) == 3  # every input image went
    assert result.provider == "gemini" and result.images
    assert _changes(result) == {
        "aspect_ratio": (None, "3:2"),
        "size": ("1536x1024", None),
        "options.image_size": ("1536px", "2K"),
        "options.quality": ("high", None),
        "options.output_format": ("png", None),
    }


async def test_imagen_to_its_successor_translates_every_parameter() -> None:
    async with Simulator() as imagen_sim, Simulator() as gemini_sim:
        primary = ImagenProvider("k", model="imagen-4.0-generate-001", base_url=imagen_sim.base_url)
        successor = "gemini-3.1-flash-image"  # imagen -> gemini-2.5-flash-image (retired) -> this
        from genguard.catalogue import default_catalogue

        live = default_catalogue().successor("imagen-4.0-generate-001", TODAY)
        assert live is not None and live.name == successor
        target = GeminiProvider("k", model=successor, base_url=gemini_sim.base_url)
        request = GenerationRequest(
            prompt="a red fox in snow",
            aspect_ratio="16:9",
            n=3,
            seed=42,
            options={"image_size": "2K", "negative_prompt": "text, watermark"},
        )
        result, _ = await _fall_back(primary, imagen_sim, [target], request)
        [sent_imagen] = imagen_sim.log
        [sent] = [r for r in gemini_sim.log if r.api == "gemini"]
    # The primary got Imagen's wire format...
    params = sent_imagen.body["parameters"]
    assert (params["sampleCount"], params["aspectRatio"], params["sampleImageSize"]) == (
        3,
        "16:9",
        "2K",
    )
    assert params["negativePrompt"] == "text, watermark" and params["seed"] == 42
    # ...and the successor Gemini's, with the same meaning.
    config = sent.body["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert config["candidateCount"] == 3 and config["seed"] == 42
    prompt = sent.body["contents"][-1]["parts"][0]["text"]
    assert prompt == "a red fox in snow\n\nAvoid: text, watermark"
    assert result.model == successor
    assert _changes(result) == {
        "options.negative_prompt": ("<text>", None),
        "prompt": ("<original>", "<original + Avoid: ...>"),
    }


async def test_a_target_that_cannot_take_the_edit_is_skipped_with_a_reason() -> None:
    async with Simulator() as openai_sim, Simulator() as imagen_sim, Simulator() as gemini_sim:
        primary = OpenAIProvider("k", model="gpt-image-2", base_url=openai_sim.base_url)
        imagen = ImagenProvider("k", model="imagen-4.0-generate-001", base_url=imagen_sim.base_url)
        gemini = GeminiProvider("k", model="gemini-2.5-flash-image", base_url=gemini_sim.base_url)
        request = GenerationRequest(prompt="recolour", images=(Image(PNG),), n=1)
        result, extras = await _fall_back(primary, openai_sim, [imagen, gemini], request)
    assert imagen_sim.log == []  # never sent a text-only request in place of the edit
    assert result.provider == "gemini"
    [skip] = extras["fallback.skipped"]
    assert skip.startswith("imagen/imagen-4.0-generate-001:")
    assert "takes no input images" in skip


@pytest.mark.parametrize(
    ("request_kwargs", "why"),
    [
        ({"n": 9}, "at most 8 image(s)"),
        ({"options": {"mask": Image(PNG)}, "images": (Image(PNG),)}, "takes no mask"),
        ({"options": {"background": "transparent"}}, "no transparent background"),
    ],
)
async def test_when_every_target_is_skipped_the_primary_error_says_why(
    request_kwargs: dict[str, Any], why: str
) -> None:
    async with Simulator() as openai_sim, Simulator() as gemini_sim:
        primary = OpenAIProvider("k", model="gpt-image-1", base_url=openai_sim.base_url)
        target = GeminiProvider("k", model="gemini-3-pro-image", base_url=gemini_sim.base_url)
        openai_sim.script("openai", [Reply.status(503)] * 4)
        request = GenerationRequest(prompt="x", **request_kwargs)
        with pytest.raises(ProviderUnavailable) as info:
            await _fall_back(primary, openai_sim, [target], request)
    assert gemini_sim.log == []
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "fallback: skipped gemini/gemini-3-pro-image" in notes and why in notes


async def test_a_target_model_outside_the_catalogue_gets_the_request_unchanged() -> None:
    async with Simulator() as gemini_sim, Simulator() as openai_sim:
        primary = GeminiProvider("k", model="gemini-3-pro-image", base_url=gemini_sim.base_url)
        target = OpenAIProvider("k", model="house-image-model", base_url=openai_sim.base_url)
        request = GenerationRequest(prompt="x", size="1024x1024")
        result, _ = await _fall_back(primary, gemini_sim, [target], request)
        [sent] = [r for r in openai_sim.log if r.api == "openai"]
    assert sent.body["size"] == "1024x1024" and result.changes == ()
