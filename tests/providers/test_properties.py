"""Property tests: any JSON (or bytes) as a response body gives a result or a GenGuardError,
never a crash, and never an error that shows the API key."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_support import (
    GEMINI_KEY,
    OPENAI_KEY,
    PNG_B64,
    load_fixture,
    make_call,
    response_fixture_names,
)

from genguard import GenerationRequest, GenerationResult
from genguard.errors import GenGuardError, ResponseError
from genguard.model import Image
from genguard.providers.gemini import GeminiProvider, google_error
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider, ParsedImages, openai_error
from genguard.providers.transport import RawResponse

KEYS = [
    "candidates",
    "content",
    "parts",
    "inlineData",
    "inline_data",
    "data",
    "mimeType",
    "text",
    "thought",
    "thoughtSignature",
    "finishReason",
    "finishMessage",
    "promptFeedback",
    "blockReason",
    "blockReasonMessage",
    "safetyRatings",
    "category",
    "blocked",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokensDetails",
    "modality",
    "tokenCount",
    "responseId",
    "modelVersion",
    "error",
    "code",
    "message",
    "status",
    "details",
    "@type",
    "retryDelay",
    "violations",
    "quotaId",
    "reason",
    "predictions",
    "bytesBase64Encoded",
    "raiFilteredReason",
    "b64_json",
    "url",
    "usage",
    "output_tokens_details",
    "image_tokens",
    "revised_prompt",
    "output_format",
    "moderation_details",
    "categories",
    "moderation_stage",
    "param",
    "type",
]
WORDS = [
    PNG_B64,
    "SAFETY",
    "IMAGE_SAFETY",
    "STOP",
    "NO_IMAGE",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "type.googleapis.com/google.rpc.RetryInfo",
    "type.googleapis.com/google.rpc.QuotaFailure",
    "type.googleapis.com/google.rpc.ErrorInfo",
    "API_KEY_INVALID",
    "RequestsPerDay",
    "32s",
    "1.5s",
    "https://example.invalid/x.png",
    "moderation_blocked",
    "content_policy_violation",
    "insufficient_quota",
    "output",
    "IMAGE",
    "jpeg",
    "Please retry in 3s.",
    GEMINI_KEY,
    OPENAI_KEY,
    f"bad key {OPENAI_KEY} echoed",
    f"key={GEMINI_KEY}",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
FIXTURE_BODIES = [load_fixture(name) for name in response_fixture_names()]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[int, dict[str, str], Any]:
    """A reference fixture with one subtree replaced by arbitrary JSON."""
    fixture = draw(st.sampled_from(FIXTURE_BODIES))
    body = fixture["body"]
    path = draw(st.sampled_from(_paths(body)))
    return fixture["status"], fixture["headers"], _replace(body, path, draw(JSON))


STATUSES = st.sampled_from([200, 201, 400, 401, 402, 403, 404, 408, 409, 418, 429, 500, 503])
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "retry-after",
            "retry-after-ms",
            "x-request-id",
            "x-ratelimit-reset-requests",
            "x-ratelimit-remaining-requests",
            "content-type",
        ]
    ),
    st.text(max_size=20) | st.sampled_from(["12", "1500", "6m0s", "0", OPENAI_KEY]),
    max_size=3,
)
CASES = st.one_of(
    st.tuples(STATUSES, HEADERS, JSON),
    mutated_fixture(),
)

GEMINI = GeminiProvider(GEMINI_KEY)
IMAGEN = ImagenProvider(GEMINI_KEY)
OPENAI = OpenAIProvider(OPENAI_KEY)


def _raw(status: int, headers: dict[str, str], body: bytes) -> RawResponse:
    return RawResponse(status=status, headers=headers, body=body, received_at=0.0)


def _check_error(error: BaseException) -> None:
    assert isinstance(error, GenGuardError), repr(error)
    if isinstance(error, ResponseError):
        # shape problems are named by the parser, not caught by the last-resort net
        assert error.__cause__ is None, repr(error.__cause__)
    for text in (str(error), repr(error), repr(vars(error))):
        assert GEMINI_KEY not in text and OPENAI_KEY not in text


def _run_all(status: int, headers: dict[str, str], body: bytes) -> None:
    raw = _raw(status, headers, body)
    request = GenerationRequest(prompt="p")
    for provider in (GEMINI, IMAGEN):
        call = make_call(request, provider=provider.name, model=provider.model)
        if 200 <= status < 300:
            try:
                result = provider.parse_result(raw, call)
            except BaseException as error:
                _check_error(error)
            else:
                assert isinstance(result, GenerationResult) and result.images
                assert all(isinstance(i, Image) and i.data for i in result.images)
        else:
            _check_error(google_error(raw, provider=provider.name, api_key=GEMINI_KEY, now=0.0))
    if 200 <= status < 300:
        try:
            parsed = OPENAI.parse_images(raw)
        except BaseException as error:
            _check_error(error)
        else:
            assert isinstance(parsed, ParsedImages) and parsed.items
            assert all(isinstance(i, Image | str) for i in parsed.items)
    else:
        _check_error(openai_error(raw, api_key=OPENAI_KEY, now=0.0))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(CASES)
def test_any_json_body_gives_result_or_typed_error(case: tuple[int, dict[str, str], Any]) -> None:
    status, headers, body = case
    _run_all(status, headers, json.dumps(body).encode())
    _run_all(200, headers, json.dumps(body).encode())


@settings(max_examples=200)
@given(STATUSES, st.binary(max_size=200))
def test_any_bytes_body_gives_result_or_typed_error(status: int, body: bytes) -> None:
    _run_all(status, {}, body)
