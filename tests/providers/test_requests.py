"""What the providers put on the wire, captured by the simulator and compared with the
reference request fixtures (URL path, auth header, JSON body or multipart parts)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from provider_support import (
    FIXTURES,
    GEMINI_KEY,
    OPENAI_KEY,
    PNG,
    PNG_B64,
    load_fixture,
    script_fixture,
)

from genguard import Client, GenerationRequest
from genguard.errors import InvalidRequest
from genguard.model import Image, Part, Turn
from genguard.providers.gemini import GeminiProvider, history_turn
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator

GEMINI_OK = "gemini_200_image.json"

#: Request fixtures and the test that asserts each; the moderation request belongs to the
#: safety classifier, not to an image provider.
REQUEST_FIXTURES = {
    "gemini_request_generate.json": "test_gemini_generate_request_matches_fixture",
    "gemini_request_edit_multiturn.json": "test_gemini_multiturn_echoes_parts_byte_for_byte",
    "imagen_request_predict.json": "test_imagen_request_matches_fixture",
    "openai_request_generations.json": "test_openai_generations_request_matches_fixture",
    "openai_request_generations_dalle3.json": "test_openai_dalle3_request_matches_fixture",
    "openai_request_edits_multipart.json": "test_openai_edits_multipart_matches_fixture",
    "openai_request_moderations.json": "not a provider request (safety classifier)",
}


def test_every_request_fixture_is_accounted_for() -> None:
    found = {p.name for p in FIXTURES.glob("*.json") if "method" in json.loads(p.read_text())}
    assert found == set(REQUEST_FIXTURES)
    for test in REQUEST_FIXTURES.values():
        assert test in globals() or test.startswith("not a provider")


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def _gemini(sim: Simulator, provider: GeminiProvider, request: GenerationRequest) -> Any:
    async with Client(provider) as client:
        return await client.generate(request)


async def test_gemini_generate_request_matches_fixture(sim: Simulator) -> None:
    fixture = load_fixture("gemini_request_generate.json")
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(
        GEMINI_KEY, base_url=sim.base_url, safety_settings=fixture["body"]["safetySettings"]
    )
    prompt = fixture["body"]["contents"][0]["parts"][0]["text"]
    await _gemini(sim, provider, GenerationRequest(prompt=prompt, aspect_ratio="16:9"))
    sent = sim.captured[0]
    assert sent.method == "POST" and sent.path == _path(fixture["url"])
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.headers["Content-Type"] == "application/json"
    assert "key=" not in sent.path  # the key travels only in the header
    expected = json.loads(json.dumps(fixture["body"]))
    # candidateCount 1 is the API default: it is sent only when n > 1
    assert expected["generationConfig"].pop("candidateCount") == 1
    assert sent.json() == expected


async def test_gemini_safety_settings_mapping_form(sim: Simulator) -> None:
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(
        GEMINI_KEY,
        base_url=sim.base_url,
        safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE"},
    )
    await _gemini(sim, provider, GenerationRequest(prompt="x"))
    assert sim.captured[0].json()["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]


async def test_gemini_multiturn_echoes_parts_byte_for_byte(sim: Simulator) -> None:
    """Turn 1 gets a model turn with signatures; turn 2 must send it back exactly."""
    fixture = load_fixture("gemini_request_edit_multiturn.json")
    contents = fixture["body"]["contents"]
    model_turn = contents[1]
    # the server's turn-1 answer is the model turn the fixture expects echoed
    sim.script(
        "*",
        [
            Reply.raw(
                200,
                {
                    "candidates": [{"content": model_turn, "finishReason": "STOP"}],
                    "responseId": "turn-1",
                },
                {"content-type": "application/json"},
            )
        ]
        * 2,  # the same answer to both turns
    )
    provider = GeminiProvider(
        GEMINI_KEY, base_url=sim.base_url, model="gemini-3-pro-image-preview", image_size="2K"
    )
    first_prompt = contents[0]["parts"][0]["text"]
    async with Client(provider) as client:
        first = await client.generate(
            GenerationRequest(prompt=first_prompt, images=(Image(PNG),), aspect_ratio="4:3")
        )
        assert first.thought_signatures == (
            model_turn["parts"][0]["thoughtSignature"],
            model_turn["parts"][1]["thoughtSignature"],
        )
        history = (
            Turn("user", (Part(text=first_prompt), Part(image=Image(PNG)))),
            history_turn(first),
        )
        await client.generate(
            GenerationRequest(
                prompt=contents[2]["parts"][0]["text"], history=history, aspect_ratio="4:3"
            )
        )
    sent = sim.captured[1]
    assert sent.path == _path(fixture["url"])
    assert sent.json() == fixture["body"]
    # byte for byte: the signatures and base64 appear verbatim in the raw body
    for part in model_turn["parts"]:
        assert part["thoughtSignature"].encode() in sent.body
    assert sent.body.count(PNG_B64.encode()) == 2


async def test_gemini_echo_keeps_raw_base64_even_if_non_canonical(sim: Simulator) -> None:
    """A provider's base64 is echoed as received, not re-encoded from the decoded bytes."""
    raw = base64.b64encode(bytes(range(5))).decode()  # "AAECAwQ=", canonical
    odd = raw[:-2] + "R="  # non-zero pad bits: decodes the same, re-encodes differently
    assert base64.b64decode(odd) == base64.b64decode(raw) and odd != raw
    part = {"inlineData": {"mimeType": "image/webp", "data": odd}, "thoughtSignature": "s1"}
    reply = Reply.raw(200, {"candidates": [{"content": {"role": "model", "parts": [part]}}]})
    sim.script("*", [reply, reply])
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    async with Client(provider) as client:
        first = await client.generate(GenerationRequest(prompt="one"))
        assert first.image.data == bytes(range(5)) and first.image.mime_type == "image/webp"
        await client.generate(GenerationRequest(prompt="two", history=(history_turn(first),)))
    assert sim.captured[1].json()["contents"][0] == {"role": "model", "parts": [part]}


async def test_gemini_thought_parts_round_trip(sim: Simulator) -> None:
    data = load_fixture("gemini_200_image_thought_signature.json")
    sim.script("*", [Reply.fixture(data)] * 2)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    async with Client(provider) as client:
        first = await client.generate(GenerationRequest(prompt="one"))
        await client.generate(GenerationRequest(prompt="two", history=(history_turn(first),)))
    echoed = sim.captured[1].json()["contents"][0]
    assert echoed == data["body"]["candidates"][0]["content"]


@pytest.mark.parametrize("seed", [0, 7])
async def test_gemini_seed_is_sent_including_zero(sim: Simulator, seed: int) -> None:
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    result = await _gemini(sim, provider, GenerationRequest(prompt="x", seed=seed))
    assert sim.captured[0].json()["generationConfig"]["seed"] == seed
    assert result.seed == seed


async def test_gemini_no_seed_no_candidate_count_by_default(sim: Simulator) -> None:
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    await _gemini(sim, provider, GenerationRequest(prompt="x"))
    config = sim.captured[0].json()["generationConfig"]
    assert config == {"responseModalities": ["TEXT", "IMAGE"]}


@pytest.mark.parametrize(
    ("size", "image_config"),
    [
        ("1536x1024", {"aspectRatio": "3:2"}),
        ("1024x1024", {"aspectRatio": "1:1"}),
        ("1792x1024", {"aspectRatio": "16:9"}),  # nearest supported ratio
        ("2K", {"imageSize": "2K"}),
        ("auto", None),
    ],
)
async def test_gemini_image_config_from_size(
    sim: Simulator, size: str, image_config: dict[str, str] | None
) -> None:
    script_fixture(sim, GEMINI_OK)
    # imageSize is for Gemini 3 image models (the catalogue rejects it on 2.5 Flash Image)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url, model="gemini-3-pro-image")
    await _gemini(sim, provider, GenerationRequest(prompt="x", size=size, n=2))
    config = sim.captured[0].json()["generationConfig"]
    assert config.get("imageConfig") == image_config
    assert config["candidateCount"] == 2


async def test_gemini_bad_size_is_rejected_before_sending(sim: Simulator) -> None:
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    with pytest.raises(InvalidRequest, match="size='huge'") as info:
        await _gemini(sim, provider, GenerationRequest(prompt="x", size="huge"))
    assert info.value.field == "size" and "WIDTHxHEIGHT" in info.value.allowed
    assert len(sim.captured) == 0


async def test_gemini_request_model_override_and_input_images(sim: Simulator) -> None:
    script_fixture(sim, GEMINI_OK)
    provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
    request = GenerationRequest(
        prompt="edit",
        model="gemini-3-pro-image-preview",
        images=(Image(PNG), Image(b"\xff\xd8jpeg", "image/jpeg")),
    )
    await _gemini(sim, provider, request)
    sent = sim.captured[0]
    assert sent.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    assert sent.json()["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "edit"},
                {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                {
                    "inlineData": {
                        "mimeType": "image/jpeg",
                        "data": base64.b64encode(b"\xff\xd8jpeg").decode(),
                    }
                },
            ],
        }
    ]


async def test_imagen_request_matches_fixture(sim: Simulator) -> None:
    fixture = load_fixture("imagen_request_predict.json")
    script_fixture(sim, "imagen_200_predict.json")
    provider = ImagenProvider(
        GEMINI_KEY,
        base_url=sim.base_url,
        person_generation="allow_adult",
        output_mime_type="image/png",
    )
    prompt = fixture["body"]["instances"][0]["prompt"]
    async with Client(provider) as client:
        result = await client.generate(GenerationRequest(prompt=prompt, n=2, aspect_ratio="1:1"))
    assert len(result.images) == 2
    sent = sim.captured[0]
    assert sent.path == _path(fixture["url"])
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.json() == fixture["body"]


async def test_imagen_rejects_edits_without_sending(sim: Simulator) -> None:
    provider = ImagenProvider(GEMINI_KEY, base_url=sim.base_url)
    async with Client(provider) as client:
        with pytest.raises(InvalidRequest, match="does not take input images") as info:
            await client.generate(GenerationRequest(prompt="x", images=(Image(PNG),)))
    assert info.value.field == "images"
    assert len(sim.captured) == 0


async def _openai(provider: OpenAIProvider, request: GenerationRequest) -> Any:
    async with Client(provider) as client:
        return await client.generate(request)


async def test_openai_generations_request_matches_fixture(sim: Simulator) -> None:
    fixture = load_fixture("openai_request_generations.json")
    body = fixture["body"]
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(
        OPENAI_KEY,
        base_url=sim.base_url,
        quality="high",
        output_format="png",
        moderation="auto",
    )
    request = GenerationRequest(
        prompt=body["prompt"],
        size=body["size"],
        options={"background": "opaque", "user": "user-1234"},
    )
    await _openai(provider, request)
    sent = sim.captured[0]
    assert sent.method == "POST" and sent.path == _path(fixture["url"])
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert "Idempotency-Key" not in sent.headers
    assert sent.json() == body


async def test_openai_dalle3_request_matches_fixture(sim: Simulator) -> None:
    fixture = load_fixture("openai_request_generations_dalle3.json")
    body = fixture["body"]
    sim.script("*", [Reply.raw(200, {"data": [{"b64_json": PNG_B64}]})])
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url, model="dall-e-3", quality="hd")
    request = GenerationRequest(
        prompt=body["prompt"],
        aspect_ratio="16:9",  # → the dall-e-3 wide size
        options={"style": "vivid", "response_format": "url"},
    )
    await _openai(provider, request)
    assert sim.captured[0].json() == body


async def test_openai_edits_multipart_matches_fixture(sim: Simulator) -> None:
    fixture = load_fixture("openai_request_edits_multipart.json")
    parts = fixture["multipart"]
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url, quality="medium")
    files = [p for p in parts if "data_base64" in p]
    images = tuple(
        Image(base64.b64decode(p["data_base64"]), p["content_type"])
        for p in files
        if p["name"] == "image[]"
    )
    mask = next(Image(base64.b64decode(p["data_base64"])) for p in files if p["name"] == "mask")
    value = {p["name"]: p["value"] for p in parts if "value" in p}
    request = GenerationRequest(
        prompt=value["prompt"],
        images=images,
        size=value["size"],
        options={"mask": mask, "input_fidelity": value["input_fidelity"]},
    )
    await _openai(provider, request)
    sent = sim.captured[0]
    assert sent.path == _path(fixture["url"])
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = sent.form()
    got = [
        {
            "name": p.name,
            "content_type": p.content_type,
            "data_base64": base64.b64encode(p.data).decode(),
        }
        if p.filename
        else {"name": p.name, "value": p.data.decode()}
        for p in form
    ]
    want = [{k: v for k, v in p.items() if k != "filename"} for p in parts]
    assert got == want
    assert all(p.filename.endswith(".png") for p in form if p.filename)


async def test_openai_single_image_edit_uses_plain_image_field(sim: Simulator) -> None:
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url)
    await _openai(provider, GenerationRequest(prompt="edit", images=(Image(PNG),)))
    form = sim.captured[0].form()
    assert [p.name for p in form] == ["model", "prompt", "image", "n"]
    assert form[2].data == PNG


async def test_openai_headers_idempotency_org_project(sim: Simulator) -> None:
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(
        OPENAI_KEY, base_url=sim.base_url, organization="org-1", project="proj-2"
    )
    await _openai(provider, GenerationRequest(prompt="x", idempotency_key="idem-123"))
    headers = sim.captured[0].headers
    assert headers["Idempotency-Key"] == "idem-123"
    assert headers["OpenAI-Organization"] == "org-1"
    assert headers["OpenAI-Project"] == "proj-2"


@pytest.mark.parametrize(
    ("model", "ratio", "size"),
    [
        ("gpt-image-1", "1:1", "1024x1024"),
        ("gpt-image-1", "3:2", "1536x1024"),
        ("gpt-image-1", "9:16", "1024x1536"),
        ("dall-e-3", "9:16", "1024x1792"),
        ("dall-e-2", "16:9", "1024x1024"),
    ],
)
async def test_openai_size_from_aspect_ratio(
    sim: Simulator, model: str, ratio: str, size: str
) -> None:
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url, model=model)
    await _openai(provider, GenerationRequest(prompt="x", aspect_ratio=ratio))
    assert sim.captured[0].json()["size"] == size


async def test_openai_per_call_options_override_defaults(sim: Simulator) -> None:
    script_fixture(sim, "openai_200_gpt_image.json")
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url, quality="high")
    await _openai(provider, GenerationRequest(prompt="x", n=3, options={"quality": "low"}))
    body = sim.captured[0].json()
    assert body == {"model": "gpt-image-1", "prompt": "x", "n": 3, "quality": "low"}
