"""OpenAI Images and Moderations over real HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import aiohttp

from genguard.sim import Simulator

from .conftest import post_openai
from .pngcheck import read_png

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reference"
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


async def test_gpt_image_success_looks_like_the_fixture(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await post_openai(
        http, sim.base_url, {"model": "gpt-image-1", "prompt": "fox", "size": "1536x1024", "n": 2}
    )
    assert status == 200
    fixture = json.loads((FIXTURES / "openai_200_gpt_image.json").read_text())
    assert set(body) == set(fixture["body"])
    assert body["size"] == "1536x1024" and body["output_format"] == "png"
    assert len(body["data"]) == 2
    for item in body["data"]:
        w, h, _ = read_png(base64.b64decode(item["b64_json"]))
        assert (w, h) == (256, 171)
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    )
    assert headers["x-request-id"].startswith("req_")
    for name in RATE_HEADERS:
        assert name in headers


async def test_request_ids_are_unique(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ids = {(await post_openai(http, sim.base_url))[1]["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_dalle3_url_is_served(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, _, body = await post_openai(
        http, sim.base_url, {"model": "dall-e-3", "prompt": "fox", "size": "1792x1024"}
    )
    assert status == 200
    (item,) = body["data"]
    assert set(item) == {"url", "revised_prompt"}
    assert item["url"].startswith(sim.base_url + "/files/")
    async with http.get(item["url"]) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        w, h, _ = read_png(await resp.read())
        assert (w, h) == (256, 146)
    async with http.get(sim.base_url + "/files/nonsense.png") as resp:
        assert resp.status == 404


async def test_dalle_b64_response_format(sim: Simulator, http: aiohttp.ClientSession) -> None:
    _, _, body = await post_openai(
        http, sim.base_url, {"model": "dall-e-2", "prompt": "fox", "response_format": "b64_json"}
    )
    read_png(base64.b64decode(body["data"][0]["b64_json"]))
    assert "revised_prompt" not in body["data"][0]


async def test_auth_errors(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, headers, body = await post_openai(http, sim.base_url, key=None)
    assert status == 401 and body["error"]["code"] is None and "x-request-id" in headers
    status, _, body = await post_openai(http, sim.base_url, key="invalid-key")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert "invalid-key" not in body["error"]["message"]


async def test_bad_parameters(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, _, body = await post_openai(http, sim.base_url, {"model": "gpt-image-1"})
    assert status == 400 and body["error"]["param"] == "prompt"
    status, _, body = await post_openai(http, sim.base_url, {"prompt": "x", "size": "huge"})
    assert (
        status == 400
        and body["error"]["code"] == "invalid_value"
        and body["error"]["param"] == "size"
    )
    status, _, body = await post_openai(http, sim.base_url, {"prompt": "x", "n": 11})
    assert status == 400 and body["error"]["param"] == "n"
    async with http.post(
        sim.base_url + "/v1/images/generations",
        data=b"{oops",
        headers={"Authorization": "Bearer k"},
    ) as resp:
        assert (
            resp.status == 400 and (await resp.json())["error"]["type"] == "invalid_request_error"
        )


async def test_edits_multipart_is_parsed(sim: Simulator, http: aiohttp.ClientSession) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    form = aiohttp.FormData()
    form.add_field("model", "gpt-image-1")
    form.add_field("prompt", "put the mug on a desk")
    form.add_field("image[]", png, filename="mug.png", content_type="image/png")
    form.add_field("image[]", png + b"xx", filename="desk.png", content_type="image/png")
    form.add_field("mask", png, filename="mask.png", content_type="image/png")
    form.add_field("size", "1024x1536")
    form.add_field("n", "1")
    async with http.post(
        sim.base_url + "/v1/images/edits", data=form, headers={"Authorization": "Bearer k"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    w, h, _ = read_png(base64.b64decode(body["data"][0]["b64_json"]))
    assert (w, h) == (171, 256)
    assert body["usage"]["input_tokens_details"]["image_tokens"] > 0
    record = sim.log[-1]
    assert record.prompt == "put the mug on a desk" and record.model == "gpt-image-1"
    assert record.body["fields"]["size"] == "1024x1536"
    assert [(f["name"], f["filename"], f["bytes"]) for f in record.body["files"]] == [
        ("image[]", "mug.png", len(png)),
        ("image[]", "desk.png", len(png) + 2),
        ("mask", "mask.png", len(png)),
    ]


async def test_edits_without_image_or_multipart(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    form2 = aiohttp.MultipartWriter("form-data")
    for name, value in (("prompt", "x"), ("model", "gpt-image-1")):
        part = form2.append(value)
        part.set_content_disposition("form-data", name=name)
    async with http.post(
        sim.base_url + "/v1/images/edits", data=form2, headers={"Authorization": "Bearer k"}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == "image"
    async with http.post(
        sim.base_url + "/v1/images/edits",
        json={"prompt": "x"},
        headers={"Authorization": "Bearer k"},
    ) as resp:
        assert resp.status == 400


# -- moderations ------------------------------------------------------------------------


async def test_moderation_unflagged_and_flagged(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    path = "/v1/moderations"
    status, headers, body = await post_openai(http, sim.base_url, {"input": "a red fox"}, path=path)
    fixture = json.loads((FIXTURES / "openai_200_moderations.json").read_text())["body"]
    assert status == 200 and "x-request-id" in headers
    assert set(body) == set(fixture)
    (result,) = body["results"]
    assert set(result) == set(fixture["results"][0])
    assert result["flagged"] is False and not any(result["categories"].values())
    assert set(result["categories"]) == set(fixture["results"][0]["categories"])

    _, _, body = await post_openai(
        http, sim.base_url, {"input": ["calm lake", "a VIOLENCE-TEST scene"]}, path=path
    )
    first, second = body["results"]
    assert first["flagged"] is False
    assert second["flagged"] is True
    assert {k for k, v in second["categories"].items() if v} == {"violence", "violence/graphic"}
    assert second["category_scores"]["violence"] > 0.5 > second["category_scores"]["hate"]


async def test_moderation_multimodal_input(sim: Simulator, http: aiohttp.ClientSession) -> None:
    request = json.loads((FIXTURES / "openai_request_moderations.json").read_text())["body"]
    status, _, body = await post_openai(http, sim.base_url, request, path="/v1/moderations")
    assert status == 200
    (result,) = body["results"]
    assert result["category_applied_input_types"]["violence"] == ["text", "image"]
    assert result["category_applied_input_types"]["hate"] == ["text"]
    status, _, _ = await post_openai(http, sim.base_url, {"model": "x"}, path="/v1/moderations")
    assert status == 400


async def test_moderation_words_are_configurable(http: aiohttp.ClientSession) -> None:
    async with Simulator(moderation_words={"banana": ["illicit"]}) as sim:
        _, _, body = await post_openai(
            http, sim.base_url, {"input": "Banana split"}, path="/v1/moderations"
        )
        assert body["results"][0]["categories"]["illicit"] is True
        _, _, body = await post_openai(
            http, sim.base_url, {"input": "violence-test"}, path="/v1/moderations"
        )
        assert body["results"][0]["flagged"] is False
        assert sim.log[-1].api == "moderations"


async def test_profiles_do_not_touch_moderations(http: aiohttp.ClientSession) -> None:
    async with Simulator("outage", duration=60) as sim:
        status, _, _ = await post_openai(http, sim.base_url, {"input": "x"}, path="/v1/moderations")
        assert status == 200
        status, _, _ = await post_openai(http, sim.base_url)
        assert status == 503
