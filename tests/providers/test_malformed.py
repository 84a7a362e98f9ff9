"""Bad bodies, broken connections and odd-but-valid answers: always a result or a typed error."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from provider_support import GEMINI_KEY, OPENAI_KEY, PNG_B64, load_fixture

from genguard import Client, GenerationRequest
from genguard.errors import (
    AuthenticationError,
    BadRequest,
    ContentBlocked,
    GenGuardError,
    NoImageGenerated,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
)
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.sim import Reply, Simulator

HTML_502 = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


def make(kind: str, base_url: str, **kwargs: Any) -> Any:
    if kind == "gemini":
        return GeminiProvider(GEMINI_KEY, base_url=base_url, **kwargs)
    if kind == "imagen":
        return ImagenProvider(GEMINI_KEY, base_url=base_url, **kwargs)
    return OpenAIProvider(OPENAI_KEY, base_url=base_url, **kwargs)


async def outcome(
    kind: str, sim: Simulator, request: GenerationRequest | None = None, **kwargs: Any
) -> Any:
    transport = kwargs.pop("transport", None)
    async with Client(make(kind, sim.base_url, **kwargs), transport=transport) as client:
        try:
            return await client.generate(request or GenerationRequest(prompt="x"))
        except GenGuardError as error:
            return error


# -- malformed 200 bodies ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "imagen", "openai"])
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"candidates": [', "not valid JSON"),
        ("", "empty response body"),
        (HTML_502, "not valid JSON"),
        ("[]", "should be an object"),
        ("null", "should be an object"),
        ("42", "should be an object"),
    ],
)
async def test_unparseable_200_is_response_error(
    sim: Simulator, kind: str, body: str, needle: str
) -> None:
    sim.script("*", [Reply.raw(200, body, {"content-type": "application/json"})])
    error = await outcome(kind, sim)
    assert type(error) is ResponseError
    assert needle in str(error) and error.status == 200 and error.provider == kind
    assert error.__cause__ is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "no candidates and no promptFeedback"),
        ({"candidates": []}, "no candidates"),
        ({"candidates": "nope"}, "candidates should be an array"),
        ({"candidates": ["nope"]}, "candidates[0] should be an object"),
        ({"candidates": [{"content": []}]}, "candidates[0].content should be an object"),
        ({"candidates": [{"content": {"parts": {}}}]}, "content.parts should be an array"),
        ({"candidates": [{"content": {"parts": [7]}}]}, "parts[0] should be an object"),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": {"data": "!!!notbase64"}}]}}]},
            "parts[0].inlineData.data is not valid base64",
        ),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": {"data": 12}}]}}]},
            "inlineData.data should be a base64 string",
        ),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": {"data": PNG_B64[:-1]}}]}}]},
            "not valid base64",  # bad padding
        ),
        (
            {"candidates": [{"content": {"parts": [{"inlineData": "x"}]}}]},
            "inlineData should be an object",
        ),
        ({"candidates": [{"finishReason": 5}]}, "finishReason should be a string"),
        ({"promptFeedback": []}, "promptFeedback should be an object"),
        ({"promptFeedback": {}}, "no candidates"),
    ],
)
async def test_gemini_wrong_shapes(sim: Simulator, body: Any, needle: str) -> None:
    sim.script("*", [Reply.raw(200, body)])
    error = await outcome("gemini", sim)
    assert type(error) is ResponseError, error
    assert needle in str(error)
    assert error.__cause__ is None  # a documented shape check, not a parser crash


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"data": []}, "empty array"),
        ({"data": {}}, "data should be an array"),
        ({"data": [{}]}, "neither b64_json nor url"),
        ({"data": [{"b64_json": "%%%"}]}, "b64_json is not valid base64"),
        ({"data": [{"b64_json": ""}]}, "b64_json is empty"),
        ({"data": [{"b64_json": None, "url": 3}]}, "url should be a string"),
        ({"data": [{"url": "file:///etc/passwd"}]}, "not an http(s) URL"),
    ],
)
async def test_openai_wrong_shapes(sim: Simulator, body: Any, needle: str) -> None:
    sim.script("*", [Reply.raw(200, body, {"x-request-id": "req_1"})])
    error = await outcome("openai", sim)
    assert type(error) is ResponseError, error
    assert needle in str(error) and error.request_id == "req_1"
    assert error.__cause__ is None


async def test_imagen_invalid_base64(sim: Simulator) -> None:
    sim.script("*", [Reply.raw(200, {"predictions": [{"bytesBase64Encoded": "a b"}]})])
    error = await outcome("imagen", sim)
    assert type(error) is ResponseError and "not valid base64" in str(error)


# -- odd but valid 200s ----------------------------------------------------------------------


async def test_gemini_multi_image_and_multi_candidate(sim: Simulator) -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff jpeg").decode()
    sim.script(
        "*",
        [
            Reply.raw(
                200,
                {
                    "candidates": [
                        {
                            "content": {
                                "parts": [
                                    {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                                    {"text": "two "},
                                    {"inlineData": {"mimeType": "image/jpeg", "data": jpeg}},
                                    {"text": "images"},
                                ]
                            },
                            "finishReason": "STOP",
                        },
                        {
                            "content": {
                                "parts": [
                                    {"inline_data": {"mimeType": "image/png", "data": PNG_B64}}
                                ]
                            },
                            "finishReason": "STOP",
                        },
                        {
                            "finishReason": "IMAGE_SAFETY"
                        },  # a blocked sibling does not sink the others
                    ]
                },
            )
        ],
    )
    result = await outcome("gemini", sim, GenerationRequest(prompt="x", n=3))
    assert [i.mime_type for i in result.images] == ["image/png", "image/jpeg", "image/png"]
    assert result.images[1].data == b"\xff\xd8\xff jpeg"
    assert result.text == "two images"
    assert len(result.parts) == 4  # the first candidate's turn, as received


async def test_gemini_thought_images_are_not_results(sim: Simulator) -> None:
    sim.script(
        "*",
        [
            Reply.raw(
                200,
                {
                    "candidates": [
                        {
                            "content": {
                                "parts": [
                                    {
                                        "inlineData": {"mimeType": "image/png", "data": PNG_B64},
                                        "thought": True,
                                    },
                                    {"text": "only a draft"},
                                ]
                            },
                            "finishReason": "STOP",
                        }
                    ]
                },
            )
        ],
    )
    error = await outcome("gemini", sim)
    assert type(error) is NoImageGenerated and error.code == "NO_IMAGE"


@pytest.mark.parametrize(
    ("reason", "code", "retryable"),
    [
        ("NO_IMAGE", "NO_IMAGE", True),
        ("IMAGE_OTHER", "IMAGE_OTHER", True),
        ("OTHER", "OTHER", True),
        ("STOP", "NO_IMAGE", True),
        (None, "NO_IMAGE", True),
        ("MAX_TOKENS", "MAX_TOKENS", False),
        ("LANGUAGE", "LANGUAGE", False),
        ("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL", False),
        ("SOMETHING_NEW", "SOMETHING_NEW", False),
    ],
)
async def test_gemini_no_image_reasons(
    sim: Simulator, reason: str | None, code: str, retryable: bool
) -> None:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": "words"}]}}
    if reason is not None:
        candidate["finishReason"] = reason
    sim.script("*", [Reply.raw(200, {"candidates": [candidate], "responseId": "r1"})])
    error = await outcome("gemini", sim)
    assert isinstance(error, NoImageGenerated) and error.finish_reason == reason
    assert (error.code, error.retryable, error.status, error.request_id) == (
        code,
        retryable,
        200,
        "r1",
    )
    assert "words" in str(error)


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("BLOCKLIST", "blocklist"),
        ("SPII", "pii"),
        ("RECITATION", "recitation"),
        ("IMAGE_RECITATION", "recitation"),
    ],
)
async def test_gemini_other_output_blocks(sim: Simulator, reason: str, category: str) -> None:
    sim.script("*", [Reply.raw(200, {"candidates": [{"finishReason": reason}]})])
    error = await outcome("gemini", sim)
    assert type(error) is ContentBlocked
    assert (error.stage, error.category, error.reason) == ("output", category, reason)


# -- error bodies that are not the documented envelope -------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_html_502_page_is_provider_unavailable(sim: Simulator, kind: str) -> None:
    sim.script("*", [Reply.raw(502, HTML_502, {"content-type": "text/html"})])
    error = await outcome(kind, sim)
    assert type(error) is ProviderUnavailable and error.status == 502 and error.retryable
    assert "502 Bad Gateway" in str(error) and "<" not in str(error)


@pytest.mark.parametrize("kind", ["gemini", "openai"])
@pytest.mark.parametrize(
    "body", ['{"error": "just a string"}', "[1, 2]", '{"error": {"message": 5}}', "{"]
)
async def test_odd_error_envelopes_still_map_by_status(
    sim: Simulator, kind: str, body: str
) -> None:
    sim.script("*", [Reply.raw(503, body)])
    error = await outcome(kind, sim)
    assert type(error) is ProviderUnavailable and error.status == 503


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (402, QuotaExhausted),
        (408, ProviderUnavailable),
        (409, ProviderUnavailable),
        (401, AuthenticationError),
        (418, ProviderError),
        (499, ProviderError),
    ],
)
async def test_gemini_status_table(sim: Simulator, status: int, cls: type) -> None:
    sim.script("*", [Reply.raw(status, {"error": {"code": status, "message": "m", "status": "S"}})])
    error = await outcome("gemini", sim)
    assert type(error) is cls and error.status == status  # the exact class, not a parent


async def test_gemini_retry_hints_fallback_order(sim: Simulator) -> None:
    # no RetryInfo: the sentence in the message
    sim.script(
        "*",
        [
            Reply.raw(
                429,
                {
                    "error": {
                        "code": 429,
                        "status": "RESOURCE_EXHAUSTED",
                        "message": "Slow down. Please retry in 2.5s.",
                    }
                },
                {"retry-after": "99"},
            )
        ],
    )
    # neither: a Retry-After header
    sim.script(
        "*", [Reply.raw(429, {"error": {"code": 429, "message": "busy"}}, {"retry-after": "7"})]
    )
    first = await outcome("gemini", sim)
    second = await outcome("gemini", sim)
    assert type(first) is RateLimited and (first.retry_after, first.hint_source) == (
        2.5,
        "retry-in-message",
    )
    assert type(second) is RateLimited and (second.retry_after, second.hint_source) == (
        7.0,
        "retry-after",
    )


async def test_gemini_5xx_honours_retry_after(sim: Simulator) -> None:
    sim.script(
        "*",
        [Reply.raw(503, {"error": {"code": 503, "status": "UNAVAILABLE"}}, {"retry-after": "4"})],
    )
    error = await outcome("gemini", sim)
    assert type(error) is ProviderUnavailable
    assert (error.retry_after, error.hint_source) == (4.0, "retry-after")


# -- OpenAI hint precedence and quota codes -------------------------------------------------

RATE = {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}}


@pytest.mark.parametrize(
    ("headers", "retry_after", "source"),
    [
        ({"retry-after-ms": "1500", "retry-after": "12"}, 1.5, "retry-after-ms"),
        (
            {
                "retry-after": "12",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1m",
            },
            12.0,
            "retry-after",
        ),
        (
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
            360.0,
            "x-ratelimit-reset",
        ),
        ({"retry-after": "garbage"}, None, None),
        ({}, None, None),
    ],
)
async def test_openai_rate_limit_hint_precedence(
    sim: Simulator, headers: dict[str, str], retry_after: float | None, source: str | None
) -> None:
    sim.script("*", [Reply.raw(429, RATE, headers)])
    error = await outcome("openai", sim)
    assert type(error) is RateLimited
    assert (error.retry_after, error.hint_source) == (retry_after, source)


async def test_openai_http_date_retry_after(sim: Simulator) -> None:
    import time
    from email.utils import formatdate

    sim.script(
        "*", [Reply.raw(429, RATE, {"retry-after": formatdate(time.time() + 30, usegmt=True)})]
    )
    error = await outcome("openai", sim)
    assert type(error) is RateLimited and error.hint_source == "retry-after"
    assert error.retry_after is not None and 27 <= error.retry_after <= 31


async def test_openai_cloudflare_plain_text_429(sim: Simulator) -> None:
    sim.script(
        "*",
        [Reply.raw(429, "error code: 1015", {"content-type": "text/plain", "retry-after": "3600"})],
    )
    error = await outcome("openai", sim)
    assert type(error) is RateLimited and error.retry_after == 3600.0
    assert "error code: 1015" in str(error)


@pytest.mark.parametrize(
    "error_body",
    [
        {"message": "no credits", "type": "insufficient_quota", "code": None},
        {"message": "no credits", "type": "billing", "code": "credit_balance_exhausted"},
    ],
)
async def test_openai_quota_variants(sim: Simulator, error_body: dict[str, Any]) -> None:
    sim.script("*", [Reply.raw(429, {"error": error_body}, {"retry-after": "20"})])
    error = await outcome("openai", sim)
    assert type(error) is QuotaExhausted and not error.retryable


async def test_openai_content_policy_without_details_defaults_to_input(
    sim: Simulator,
) -> None:
    sim.script("*", [Reply.raw(400, {"error": {"code": "moderation_blocked", "message": "no"}})])
    error = await outcome("openai", sim)
    assert type(error) is ContentBlocked and error.stage == "input"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, BadRequest),
        (422, BadRequest),
        (408, ProviderUnavailable),
        (409, ProviderUnavailable),
        (418, ProviderError),
    ],
)
async def test_openai_status_table(sim: Simulator, status: int, cls: type) -> None:
    sim.script(
        "*",
        [Reply.raw(status, {"error": {"message": "m", "type": "t", "code": None, "param": "p"}})],
    )
    error = await outcome("openai", sim)
    assert type(error) is cls and error.status == status and error.param == "p"


# -- dall-e URL downloads -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"), [(500, ProviderUnavailable), (403, ResponseError), (404, ResponseError)]
)
async def test_openai_url_download_failures(sim: Simulator, status: int, cls: type) -> None:
    sim.script("*", [Reply.raw(200, {"data": [{"url": f"{sim.base_url}/files/1.png"}]})])
    sim.script("files", [Reply.raw(status, "AuthenticationFailed")])
    error = await outcome("openai", sim)
    assert type(error) is cls and error.status == status


async def test_openai_url_download_is_capped(sim: Simulator) -> None:
    sim.script("*", [Reply.raw(200, {"data": [{"url": f"{sim.base_url}/files/1.png"}]})])
    sim.script(
        "files", [Reply.raw(200, b"\x89PNG" + b"\0" * 20_000, {"content-type": "image/png"})]
    )
    error = await outcome("openai", sim, transport=HttpTransport(max_response_bytes=10_000))
    assert type(error) is ResponseError and "cap" in str(error)


async def test_openai_url_mime_from_content_type(sim: Simulator) -> None:
    urls = [{"url": f"{sim.base_url}/files/{n}.png"} for n in (1, 2)]
    sim.script("*", [Reply.raw(200, {"data": urls})])
    sim.script(
        "files",
        [
            Reply.raw(200, b"RIFFwebp", {"content-type": "image/webp"}),
            Reply.raw(200, b"\x89PNG", {"content-type": "application/octet-stream"}),
        ],
    )
    result = await outcome("openai", sim)
    assert [(i.mime_type, i.data) for i in result.images] == [
        ("image/webp", b"RIFFwebp"),
        ("image/png", b"\x89PNG"),
    ]


async def test_openai_output_format_sets_mime(sim: Simulator) -> None:
    sim.script("*", [Reply.raw(200, {"data": [{"b64_json": PNG_B64}], "output_format": "jpeg"})])
    result = await outcome("openai", sim)
    assert result.image.mime_type == "image/jpeg"


# -- transport failures ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_body_over_the_cap(sim: Simulator, kind: str) -> None:
    data = load_fixture(
        "gemini_200_image.json" if kind == "gemini" else "openai_200_gpt_image.json"
    )
    sim.script("*", [Reply.raw(200, {**data["body"], "padding": "x" * 50_000})])
    error = await outcome(kind, sim, transport=HttpTransport(max_response_bytes=20_000))
    assert type(error) is ResponseError and "cap" in str(error)


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_connection_reset_before_headers(sim: Simulator, kind: str) -> None:
    sim.script("*", [Reply.reset()])
    error = await outcome(kind, sim)
    assert type(error) is ProviderUnavailable and error.retryable


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_truncated_body(sim: Simulator, kind: str) -> None:
    sim.script("*", [Reply.truncated(keep=0.1)])  # Content-Length says more; then it closes
    error = await outcome(kind, sim)
    assert type(error) is ProviderUnavailable and error.code in {
        "payload_error",
        "connection_error",
    }


async def test_connection_refused() -> None:
    provider = GeminiProvider(GEMINI_KEY, base_url="http://127.0.0.1:9")
    async with Client(provider) as client:
        with pytest.raises(ProviderUnavailable):
            await client.generate("x")


# -- cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_cancellation_propagates_at_once_and_releases_the_connection(
    sim: Simulator, kind: str
) -> None:
    sim.script("*", [Reply.delay(3600.0)])  # cancelled when the simulator stops
    transport = HttpTransport()
    async with Client(make(kind, sim.base_url), transport=transport) as client:
        task = asyncio.create_task(client.generate("x"))
        await sim.captured.wait(1)
        task.cancel()
        for _ in range(5):  # "at once": within a few turns of the event loop, not a timeout
            await asyncio.sleep(0)
        assert task.cancelled()
        session = transport.session
        assert session is not None
        connector = session.connector
        assert connector is not None
        assert not connector._acquired  # no connection left checked out
    await transport.aclose()
