"""Every reference response fixture, replayed over real HTTP, maps to the documented outcome.

``EXPECTED`` names the provider, the result or error class and the fields to check for
each fixture; ``test_every_response_fixture_is_covered`` fails when a fixture is added
without an expectation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from provider_support import (
    FOX_PATH,
    GEMINI_KEY,
    OPENAI_KEY,
    PNG,
    response_fixture_names,
    script_fixture,
)

import support
from genguard import Client, GenerationRequest, GenerationResult
from genguard.errors import (
    AuthenticationError,
    BadRequest,
    ContentBlocked,
    GenGuardError,
    NoImageGenerated,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResponseError,
)
from genguard.model import RateLimitInfo
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator

OPENAI_REQ = "req_3f2c9d4e8a1b4c6d9e0f1a2b3c4d5e6f"


@dataclass(frozen=True)
class Expect:
    provider: str  # gemini | imagen | openai
    outcome: type[Any]  # GenerationResult or an exact error class
    fields: dict[str, Any] = field(default_factory=dict)


EXPECTED: dict[str, Expect] = {
    # -- Gemini 200s ------------------------------------------------------------------
    "gemini_200_image.json": Expect(
        "gemini",
        GenerationResult,
        {
            "images": 1,
            "text": "Here is a watercolor fox in a snowy birch forest.",
            "finish_reason": "STOP",
            "request_id": "q3RkaaBcD4eQ1MkP0LmV4Ao",
            "model": "gemini-2.5-flash-image",
            "usage.input_tokens": 14,
            "usage.output_tokens": 1302,
            "usage.total_tokens": 1316,
            "usage.image_tokens": 1290,
        },
    ),
    "gemini_200_image_thought_signature.json": Expect(
        "gemini",
        GenerationResult,
        {
            "images": 1,
            "finish_reason": "STOP",
            "request_id": "UloxaY6yCIq4694Pi-TTmAk",
            "text": "Here is the scene with warmer late-afternoon light.",
            "thought_signatures": (
                "cGxhY2Vob2xkZXItdGhvdWdodC1zaWduYXR1cmUtMDAx",
                "cGxhY2Vob2xkZXItdGhvdWdodC1zaWduYXR1cmUtMDAy",
            ),
            "usage.image_tokens": 1120,
        },
    ),
    "gemini_200_blocked_prompt.json": Expect(
        "gemini",
        ContentBlocked,
        {
            "stage": "input",
            "source": "provider",
            "category": "prohibited",
            "reason": "PROHIBITED_CONTENT",
            "request_id": "Zk1vacKzAqK0kdUPlYy4gQk",
            "status": 200,
        },
    ),
    "gemini_200_blocked_prompt_safety.json": Expect(
        "gemini",
        ContentBlocked,
        {
            "stage": "input",
            "source": "provider",
            "category": "sexual",
            "reason": "SAFETY",
            "request_id": "b2FfacL0Bb2kkdUP7pSiqQk",
        },
    ),
    "gemini_200_finish_safety.json": Expect(
        "gemini",
        ContentBlocked,
        {
            "stage": "output",
            "source": "provider",
            "category": "sexual",
            "reason": "SAFETY",
            "request_id": "e3BvacSlB8KmkdUPxoW4mQk",
        },
    ),
    "gemini_200_image_safety.json": Expect(
        "gemini",
        ContentBlocked,
        {
            "stage": "output",
            "source": "provider",
            "category": "unspecified",
            "reason": "IMAGE_SAFETY",
            "request_id": "BK54aczcOKLqkdUPsqekqA4",
        },
    ),
    "gemini_200_image_prohibited_content.json": Expect(
        "gemini",
        ContentBlocked,
        {
            "stage": "output",
            "source": "provider",
            "category": "prohibited",
            "reason": "IMAGE_PROHIBITED_CONTENT",
            "request_id": "cW1vacO1AqK0kdUPlYy4gQk",
        },
    ),
    "gemini_200_no_image.json": Expect(
        "gemini",
        NoImageGenerated,
        {
            "status": 200,
            "code": "NO_IMAGE",
            "retryable": True,
            "request_id": "c3BvacSlB8KmkdUPxoW4mQk",
        },
    ),
    "gemini_200_text_only_stop.json": Expect(
        "gemini",
        NoImageGenerated,
        {
            "status": 200,
            "code": "NO_IMAGE",
            "retryable": True,
            "request_id": "d3BvacSlB8KmkdUPxoW4mQk",
        },
    ),
    # -- Gemini errors ----------------------------------------------------------------
    "gemini_400_api_key_invalid.json": Expect(
        "gemini",
        AuthenticationError,
        {
            "status": 400,
            "code": "API_KEY_INVALID",
            "retryable": False,
        },
    ),
    "gemini_400_failed_precondition.json": Expect(
        "gemini",
        BadRequest,
        {
            "status": 400,
            "code": "FAILED_PRECONDITION",
            "retryable": False,
        },
    ),
    "gemini_400_invalid_argument.json": Expect(
        "gemini",
        BadRequest,
        {
            "status": 400,
            "code": "INVALID_ARGUMENT",
            "retryable": False,
        },
    ),
    "gemini_400_missing_thought_signature.json": Expect(
        "gemini",
        BadRequest,
        {
            "status": 400,
            "code": "INVALID_ARGUMENT",
            "message~": "missing a thought_signature",
        },
    ),
    "gemini_403_permission_denied.json": Expect(
        "gemini",
        AuthenticationError,
        {
            "status": 403,
            "code": "PERMISSION_DENIED",
        },
    ),
    "gemini_404_not_found.json": Expect(
        "gemini",
        BadRequest,
        {
            "status": 404,
            "code": "NOT_FOUND",
            "message~": "is not found for API version",
        },
    ),
    "gemini_429_retryinfo.json": Expect(
        "gemini",
        RateLimited,
        {
            "status": 429,
            "code": "RESOURCE_EXHAUSTED",
            "retry_after": 32.0,
            "hint_source": "retry-info",
            "retryable": True,
            "scope": "server",
        },
    ),
    "gemini_429_daily_quota.json": Expect(
        "gemini",
        QuotaExhausted,
        {
            "status": 429,
            "retry_after": 46237.118355,
            "retryable": False,
        },
    ),
    "gemini_429_plain.json": Expect(
        "gemini",
        RateLimited,
        {
            "status": 429,
            "retry_after": None,
            "hint_source": None,
        },
    ),
    "gemini_stream_error_array.json": Expect(
        "gemini",
        RateLimited,
        {
            "status": 429,
            "code": "RESOURCE_EXHAUSTED",
            "retry_after": None,
            "message~": "Resource exhausted",
        },
    ),
    "gemini_500_internal.json": Expect(
        "gemini",
        ProviderUnavailable,
        {
            "status": 500,
            "code": "INTERNAL",
            "retryable": True,
        },
    ),
    "gemini_503_unavailable.json": Expect(
        "gemini",
        ProviderUnavailable,
        {
            "status": 503,
            "code": "UNAVAILABLE",
            "message~": "overloaded",
        },
    ),
    "gemini_504_deadline_exceeded.json": Expect(
        "gemini",
        ProviderUnavailable,
        {
            "status": 504,
            "code": "DEADLINE_EXCEEDED",
        },
    ),
    # -- Imagen -----------------------------------------------------------------------
    "imagen_200_predict.json": Expect(
        "imagen",
        GenerationResult,
        {
            "images": 2,
            "finish_reason": None,
        },
    ),
    "imagen_200_rai_filtered.json": Expect(
        "imagen",
        GenerationResult,
        {
            "images": 1,
            "finish_reason": "RAI_FILTERED",
        },
    ),
    "imagen_200_all_filtered.json": Expect(
        "imagen",
        ContentBlocked,
        {
            "stage": "output",
            "source": "provider",
            "reason": "RAI_FILTERED",
            "category": "unspecified",
        },
    ),
    # -- OpenAI 200s ------------------------------------------------------------------
    "openai_200_gpt_image.json": Expect(
        "openai",
        GenerationResult,
        {
            "images": 1,
            "request_id": OPENAI_REQ,
            "usage.input_tokens": 17,
            "usage.output_tokens": 6208,
            "usage.total_tokens": 6225,
            "usage.image_tokens": 6208,
            "rate_limit": RateLimitInfo(50, 49, 1.2, 100000, 95790, 2.526),
        },
    ),
    "openai_200_dalle3_url.json": Expect(
        "openai",
        GenerationResult,
        {
            "images": 1,
            "request_id": OPENAI_REQ,
            "revised_prompt~": "delicate watercolor",
            "rate_limit": RateLimitInfo(7, 6, 8.571, None, None, None),
        },
    ),
    # Bodies of other endpoints, served where an images body is expected: typed errors.
    "openai_200_moderations.json": Expect(
        "openai",
        ResponseError,
        {
            "status": 200,
            "message~": "data should be an array",
        },
    ),
    "openai_200_moderations_flagged.json": Expect("openai", ResponseError, {"status": 200}),
    "openai_200_responses_image_generation.json": Expect(
        "openai",
        ResponseError,
        {
            "status": 200,
            "request_id": OPENAI_REQ,
        },
    ),
    # -- OpenAI errors ----------------------------------------------------------------
    "openai_400_content_policy.json": Expect(
        "openai",
        ContentBlocked,
        {
            "stage": "input",
            "source": "provider",
            "category": "unspecified",
            "reason": "content_policy_violation",
            "status": 400,
            "request_id": "req_7a1e0c2b9d8f4e3a8b7c6d5e4f3a2b1c",
        },
    ),
    "openai_400_moderation_blocked.json": Expect(
        "openai",
        ContentBlocked,
        {
            "stage": "output",
            "source": "provider",
            "category": "sexual",
            "reason": "moderation_blocked",
            "request_id": "req_5b9c1d2e3f4a4b5c8d7e6f5a4b3c2d1e",
        },
    ),
    "openai_400_invalid_value.json": Expect(
        "openai",
        BadRequest,
        {
            "status": 400,
            "code": "invalid_value",
            "param": "size",
            "request_id": OPENAI_REQ,
        },
    ),
    "openai_401_invalid_api_key.json": Expect(
        "openai",
        AuthenticationError,
        {
            "status": 401,
            "code": "invalid_api_key",
        },
    ),
    "openai_403_org_verification.json": Expect(
        "openai",
        AuthenticationError,
        {
            "status": 403,
            "code": "invalid_request_error",
            "message~": "must be verified",
        },
    ),
    "openai_429_rate_limit.json": Expect(
        "openai",
        RateLimited,
        {
            "status": 429,
            "code": "rate_limit_exceeded",
            "retry_after": 12.0,
            "hint_source": "retry-after",
            "request_id": OPENAI_REQ,
            "rate_limit.remaining_requests": 0,
            "rate_limit.reset_requests": 72.0,
        },
    ),
    "openai_429_insufficient_quota.json": Expect(
        "openai",
        QuotaExhausted,
        {
            "status": 429,
            "code": "insufficient_quota",
            "retryable": False,
        },
    ),
    "openai_500_server_error.json": Expect(
        "openai",
        ProviderUnavailable,
        {
            "status": 500,
            "code": "server_error",
            "retryable": True,
            "retry_after": None,
        },
    ),
    "openai_503_overloaded.json": Expect(
        "openai",
        ProviderUnavailable,
        {
            "status": 503,
            "retry_after": 5.0,
            "hint_source": "retry-after",
        },
    ),
}


def test_every_response_fixture_is_covered() -> None:
    assert set(response_fixture_names()) == set(EXPECTED)


def provider_for(kind: str, base_url: str) -> GeminiProvider | ImagenProvider | OpenAIProvider:
    return support.provider_for(kind, base_url, OPENAI_KEY if kind == "openai" else GEMINI_KEY)


def _field(obj: object, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def check_fields(outcome: object, fields: dict[str, Any]) -> None:
    for name, expected in fields.items():
        if name == "images":
            assert isinstance(outcome, GenerationResult)
            assert len(outcome.images) == expected
            assert all(image.data == PNG for image in outcome.images)
        elif name.endswith("~"):
            assert expected in str(_field(outcome, name[:-1])), name
        elif isinstance(expected, float):
            assert _field(outcome, name) == pytest.approx(expected), name
        else:
            assert _field(outcome, name) == expected, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_maps_to_expected_outcome(name: str, sim: Simulator) -> None:
    expect = EXPECTED[name]
    script_fixture(sim, name)
    provider = provider_for(expect.provider, sim.base_url)
    async with Client(provider) as client:
        outcome: object
        try:
            outcome = await client.generate(GenerationRequest(prompt="a red fox"))
        except GenGuardError as error:
            outcome = error
    assert type(outcome) is expect.outcome, f"{name}: {outcome!r}"
    check_fields(outcome, expect.fields)
    if isinstance(outcome, GenGuardError):
        assert getattr(outcome, "provider", expect.provider) == expect.provider
        assert str(outcome).startswith(f"{expect.provider}:")
    if name == "openai_200_dalle3_url.json":
        download = sim.captured[1]
        assert download.method == "GET" and download.path == FOX_PATH
        assert "Authorization" not in download.headers  # the key never goes to the blob host
