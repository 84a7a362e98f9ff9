"""Scripted replies: precedence, rendering per API, and transport-level faults."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from genguard.sim import Reply, Simulator
from support import until

from .conftest import post_gemini, post_openai

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reference"
GEMINI_URL = "/v1beta/models/gemini-2.5-flash-image:generateContent"
GEMINI_REQUEST = {"contents": [{"parts": [{"text": "x"}]}]}
RESPONSE_FIXTURES = sorted(
    p.name
    for p in FIXTURES.glob("*.json")
    if isinstance(json.loads(p.read_text()).get("status"), int)
)


async def test_status_renders_in_each_api_envelope(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("*", [Reply.status(503), Reply.status(503)])
    status, _, body = await post_gemini(http, sim.base_url)
    assert (
        status == 503 and body["error"]["status"] == "UNAVAILABLE" and body["error"]["code"] == 503
    )
    status, headers, body = await post_openai(http, sim.base_url)
    assert status == 503 and body["error"]["type"] == "server_error" and "x-request-id" in headers
    assert (await post_gemini(http, sim.base_url))[0] == 200  # the queue is drained


async def test_specific_api_before_wildcard_and_moderations_excluded(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("*", [Reply.status(500)])
    sim.script("gemini", [Reply.status(504)])
    status, _, _ = await post_openai(http, sim.base_url, {"input": "x"}, path="/v1/moderations")
    assert status == 200 and sim.pending_scripts() == 2
    assert (await post_gemini(http, sim.base_url))[0] == 504
    assert (await post_gemini(http, sim.base_url))[0] == 500
    sim.script("moderations", [Reply.status(500)])
    status, _, _ = await post_openai(http, sim.base_url, {"input": "x"}, path="/v1/moderations")
    assert status == 500


async def test_scripts_take_precedence_over_the_profile(http: aiohttp.ClientSession) -> None:
    async with Simulator("outage", duration=60) as sim:
        sim.script("openai", [Reply.ok()])
        assert (await post_openai(http, sim.base_url))[0] == 200
        assert (await post_openai(http, sim.base_url))[0] == 503


async def test_status_hints_and_custom_body(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script(
        "gemini", [Reply.status(429, retry_info="1.5s"), Reply.status(503, retry_info="0.5s")]
    )
    sim.script(
        "openai",
        [
            Reply.status(
                429, retry_after="7", retry_after_ms=6500, headers={"x-should-retry": "true"}
            )
        ],
    )
    sim.script(
        "openai", [Reply.status(418, body={"weird": True}), Reply.status(500, body="plain text")]
    )
    _, headers, body = await post_gemini(http, sim.base_url)
    details = {d["@type"].rsplit(".", 1)[1]: d for d in body["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "1.5s" and "QuotaFailure" in details
    assert "retry-after" not in headers
    _, _, body = await post_gemini(http, sim.base_url)
    assert body["error"]["status"] == "UNAVAILABLE"
    assert body["error"]["details"][0]["retryDelay"] == "0.5s"
    status, headers, _ = await post_openai(http, sim.base_url)
    assert (status, headers["retry-after"], headers["retry-after-ms"]) == (429, "7", "6500")
    assert headers["x-should-retry"] == "true"
    assert sim.log[-1].hint == 6.5
    status, _, body = await post_openai(http, sim.base_url)
    assert (status, body) == (418, {"weird": True})
    status, _, body = await post_openai(http, sim.base_url)
    assert status == 500 and body == "plain text"


def test_the_fixture_set_is_found() -> None:
    assert len(RESPONSE_FIXTURES) >= 35


@pytest.mark.parametrize("path", RESPONSE_FIXTURES)
async def test_every_response_fixture_is_served_verbatim(
    sim: Simulator, http: aiohttp.ClientSession, path: str
) -> None:
    fixture = json.loads((FIXTURES / path).read_text())
    sim.script("*", [Reply.fixture(FIXTURES / path)])
    async with http.post(
        sim.base_url + GEMINI_URL, json=GEMINI_REQUEST, headers={"x-goog-api-key": "k"}
    ) as resp:
        assert resp.status == fixture["status"]
        for name, value in fixture["headers"].items():
            assert resp.headers[name] == value
        assert json.loads(await resp.read()) == fixture["body"]


async def test_reset_before_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("gemini", [Reply.reset()])
    with pytest.raises(aiohttp.ClientConnectionError):
        await post_gemini(http, sim.base_url)
    assert sim.log[-1].status == 0
    assert (await post_gemini(http, sim.base_url))[0] == 200  # the server is still fine


async def test_truncated_body_modes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("gemini", [Reply.truncated(), Reply.truncated(keep=0.3, close=False)])
    with pytest.raises(aiohttp.ClientPayloadError):
        await post_gemini(http, sim.base_url)
    async with http.post(
        sim.base_url + GEMINI_URL, json=GEMINI_REQUEST, headers={"x-goog-api-key": "k"}
    ) as resp:
        raw = await resp.read()
        assert resp.status == 200 and raw.startswith(b'{"candidates"')
        with pytest.raises(ValueError):
            json.loads(raw)


async def test_html_proxy_page(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openai", [Reply.html(504)])
    status, headers, body = await post_openai(http, sim.base_url)
    assert status == 504 and headers["content-type"].startswith("text/html")
    assert "<h1>504 Gateway Time-out</h1>" in body


async def test_delay_before_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The headers wait for the delay: a read timeout far below it fires first."""
    sim.script("openai", [Reply.delay(60, Reply.status(500)), Reply.delay(0.01, Reply.status(500))])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post_openai(http, sim.base_url), 0.3)
    status, _, _ = await post_openai(http, sim.base_url)  # a short delay, then the reply
    assert status == 500


async def test_huge_body(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("gemini", [Reply.huge(3_000_000)])
    async with http.post(
        sim.base_url + GEMINI_URL, json=GEMINI_REQUEST, headers={"x-goog-api-key": "k"}
    ) as resp:
        assert resp.content_length == 3_000_000
        raw = await resp.read()
    assert len(raw) == 3_000_000 and set(json.loads(raw)) == {"padding"}


async def test_huge_body_abandoned_by_the_client(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("gemini", [Reply.huge(50_000_000)])
    async with http.post(
        sim.base_url + GEMINI_URL, json=GEMINI_REQUEST, headers={"x-goog-api-key": "k"}
    ) as resp:
        await resp.content.read(1000)
        resp.close()
    assert (await post_gemini(http, sim.base_url))[0] == 200


async def test_blocked_replies(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("gemini", [Reply.blocked("prompt"), Reply.blocked("image_safety")])
    sim.script(
        "openai", [Reply.blocked("content_policy"), Reply.blocked("moderation", ("sexual",))]
    )
    assert "promptFeedback" in (await post_gemini(http, sim.base_url))[2]
    body = (await post_gemini(http, sim.base_url))[2]
    assert body["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    assert (await post_openai(http, sim.base_url))[2]["error"]["code"] == "content_policy_violation"
    body = (await post_openai(http, sim.base_url))[2]
    assert body["error"]["moderation_details"]["categories"] == ["sexual"]


def test_reply_validation() -> None:
    with pytest.raises(ValueError):
        Reply.status(99)
    with pytest.raises(ValueError):
        Reply.truncated(keep=1.0)
    with pytest.raises(ValueError):
        Reply.delay(1, Reply.reset())
    with pytest.raises(ValueError):
        Reply.huge(3)
    with pytest.raises(ValueError):
        Reply.fixture({"headers": {}})
    with pytest.raises(ValueError):
        Reply.blocked("nope")


async def test_script_validation(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.script("anthropic", [Reply.ok()])
    with pytest.raises(TypeError):
        sim.script("gemini", [503])  # type: ignore[list-item]
    sim.script("gemini", [Reply.ok()])
    sim.clear_scripts()
    assert sim.pending_scripts("gemini") == 0


async def test_a_request_abandoned_during_a_delay_is_recorded_as_499(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("gemini", [Reply.delay(5)])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post_gemini(http, sim.base_url), 0.2)
    await until(lambda: bool(sim.log), "the server to notice the closed connection")
    assert [r.status for r in sim.log] == [499]
