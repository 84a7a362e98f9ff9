"""Gemini generateContent over real HTTP: shape, spellings, auth, signatures."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import aiohttp

from genguard.sim import Simulator

from .conftest import GEMINI3_MODEL, gemini_body, post_gemini
from .pngcheck import read_png

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reference"


def _image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    parts = body["candidates"][0]["content"]["parts"]
    return [p for p in parts if "inlineData" in p]


async def test_success_looks_like_the_fixture(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, headers, body = await post_gemini(http, sim.base_url)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    fixture = json.loads((FIXTURES / "gemini_200_image.json").read_text())["body"]
    assert set(body) == set(fixture)
    cand = body["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["content"]["role"] == "model"
    assert set(body["usageMetadata"]) >= {
        "promptTokenCount",
        "candidatesTokenCount",
        "totalTokenCount",
    }
    assert body["modelVersion"] == "gemini-2.5-flash-image"
    (image,) = _image_parts(body)
    assert image["inlineData"]["mimeType"] == "image/png"
    w, h, _ = read_png(base64.b64decode(image["inlineData"]["data"]))
    assert (w, h) == (256, 256)
    assert "retry-after" not in headers


async def test_images_are_deterministic_per_prompt_and_seed(http: aiohttp.ClientSession) -> None:
    async def image(sim: Simulator, prompt: str) -> str:
        _, _, body = await post_gemini(http, sim.base_url, gemini_body(prompt))
        return str(_image_parts(body)[0]["inlineData"]["data"])

    async with Simulator(seed=1) as a, Simulator(seed=1) as b, Simulator(seed=2) as c:
        same = [await image(a, f"prompt {i}") for i in range(8)]
        assert same == [await image(b, f"prompt {i}") for i in range(8)]
        assert same != [await image(c, f"prompt {i}") for i in range(8)]


async def test_aspect_ratio_and_size_scale_to_max_side(http: aiohttp.ClientSession) -> None:
    async with Simulator(max_image_side=128) as sim:
        body = gemini_body("wide", imageConfig={"aspectRatio": "16:9", "imageSize": "2K"})
        _, _, resp = await post_gemini(http, sim.base_url, body, model="gemini-3-pro-image")
        w, h, _ = read_png(base64.b64decode(_image_parts(resp)[0]["inlineData"]["data"]))
        assert (w, h) == (128, 72)


async def test_snake_case_request_is_accepted(sim: Simulator, http: aiohttp.ClientSession) -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "tall fox"},
                    {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            }
        ],
        "generation_config": {
            "response_modalities": ["TEXT", "IMAGE"],
            "image_config": {"aspect_ratio": "9:16"},
        },
    }
    status, _, resp = await post_gemini(http, sim.base_url, body)
    assert status == 200
    w, h, _ = read_png(base64.b64decode(_image_parts(resp)[0]["inlineData"]["data"]))
    assert (w, h) == (144, 256)
    # responses are always camelCase
    assert "inline_data" not in json.dumps(resp) and "inlineData" in json.dumps(resp)
    assert sim.log[-1].prompt == "tall fox"


async def test_text_only_modality_returns_no_image(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await post_gemini(http, sim.base_url, gemini_body(responseModalities=["TEXT"]))
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert _image_parts(body) == []


async def test_key_in_query_is_accepted(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, _, _ = await post_gemini(http, sim.base_url, query_key=True)
    assert status == 200


async def test_missing_and_invalid_keys(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, _, body = await post_gemini(http, sim.base_url, key=None)
    expected = json.loads((FIXTURES / "gemini_403_permission_denied.json").read_text())
    assert status == 403 and body == expected["body"]
    status, _, body = await post_gemini(http, sim.base_url, key="invalid-key")
    expected = json.loads((FIXTURES / "gemini_400_api_key_invalid.json").read_text())
    assert status == 400 and body == expected["body"]
    assert [r.status for r in sim.log] == [403, 400]


async def test_malformed_bodies_get_invalid_argument(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    url = f"{sim.base_url}/v1beta/models/gemini-2.5-flash-image:generateContent"
    for raw in (
        b"{not json",
        b"[]",
        b'{"contents": []}',
        b'{"contents": [{"parts": 3}]}',
        b'{"contents": [{"parts": [{"text": 5}]}]}',
        b'{"contents": [{"parts": [{"text": "x"}]}], '
        b'"generationConfig": {"imageConfig": {"aspectRatio": "wide"}}}',
    ):
        async with http.post(url, data=raw, headers={"x-goog-api-key": "k"}) as resp:
            body = await resp.json()
            assert resp.status == 400, raw
            assert body["error"]["status"] == "INVALID_ARGUMENT"


async def test_retired_model_is_not_found(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, _, body = await post_gemini(http, sim.base_url, model="gemini-2.0-flash-exp")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    assert "gemini-2.0-flash-exp is not found" in body["error"]["message"]


# -- Gemini 3: thought parts and signatures --------------------------------------------


async def _first_turn(http: aiohttp.ClientSession, sim: Simulator) -> dict[str, Any]:
    status, _, body = await post_gemini(
        http, sim.base_url, gemini_body("a mug on a desk"), model=GEMINI3_MODEL
    )
    assert status == 200
    return dict(body["candidates"][0]["content"])


def _second_turn(model_content: dict[str, Any]) -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "a mug on a desk"}]},
            model_content,
            {"role": "user", "parts": [{"text": "warmer light"}]},
        ]
    }


async def test_gemini3_returns_thoughts_and_signatures(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    content = await _first_turn(http, sim)
    parts = content["parts"]
    thoughts = [p for p in parts if p.get("thought")]
    answer = [p for p in parts if not p.get("thought")]
    assert thoughts and all("thoughtSignature" not in p for p in thoughts)
    assert [("inlineData" in p) for p in answer] == [False, True]
    assert all(isinstance(p["thoughtSignature"], str) for p in answer)
    assert answer[0]["thoughtSignature"] != answer[1]["thoughtSignature"]


async def test_strict_mode_accepts_the_history_as_received(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    content = await _first_turn(http, sim)
    status, _, _ = await post_gemini(http, sim.base_url, _second_turn(content), model=GEMINI3_MODEL)
    assert status == 200


async def test_strict_mode_rejects_a_missing_signature(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    content = await _first_turn(http, sim)
    stripped = copy.deepcopy(content)
    image_index = next(
        i for i, p in enumerate(stripped["parts"]) if "inlineData" in p and not p.get("thought")
    )
    del stripped["parts"][image_index]["thoughtSignature"]
    status, _, body = await post_gemini(
        http, sim.base_url, _second_turn(stripped), model=GEMINI3_MODEL
    )
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith(
        "Image part is missing a thought_signature in content position 2, "
        f"part position {image_index + 1}."
    )


async def test_strict_mode_rejects_a_foreign_signature(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    content = await _first_turn(http, sim)
    forged = copy.deepcopy(content)
    for part in forged["parts"]:
        if "thoughtSignature" in part:
            part["thoughtSignature"] = "cGxhY2Vob2xkZXItdGhvdWdodC1zaWduYXR1cmUtMDAy"
    status, _, body = await post_gemini(
        http, sim.base_url, _second_turn(forged), model=GEMINI3_MODEL
    )
    assert status == 400 and "invalid thought signature" in body["error"]["message"]
    # signatures from another simulator (other seed) are foreign too
    async with Simulator(seed=99) as other:
        status, _, body = await post_gemini(
            http, other.base_url, _second_turn(content), model=GEMINI3_MODEL
        )
        assert status == 400 and "invalid thought signature" in body["error"]["message"]


async def test_lenient_mode_accepts_missing_and_foreign(http: aiohttp.ClientSession) -> None:
    fixture = json.loads((FIXTURES / "gemini_request_edit_multiturn.json").read_text())["body"]
    missing = copy.deepcopy(fixture)
    for part in missing["contents"][1]["parts"]:
        part.pop("thoughtSignature", None)
    async with Simulator(strict_signatures=False) as lenient, Simulator() as strict:
        for body in (fixture, missing):
            status, _, _ = await post_gemini(http, lenient.base_url, body, model=GEMINI3_MODEL)
            assert status == 200
            status, _, _ = await post_gemini(http, strict.base_url, body, model=GEMINI3_MODEL)
            assert status == 400


async def test_signatures_are_only_checked_for_gemini3(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    fixture = json.loads((FIXTURES / "gemini_request_edit_multiturn.json").read_text())["body"]
    del fixture["generationConfig"]["imageConfig"]["imageSize"]  # 2.5 Flash Image has none
    status, _, _ = await post_gemini(http, sim.base_url, fixture)  # 2.5 model
    assert status == 200
