"""The API key never shows: not in messages, reprs, fields, results or providers,
even when the server echoes it back (as OpenAI's 401 does, partially)."""

from __future__ import annotations

from typing import Any

import pytest
from provider_support import GEMINI_KEY, OPENAI_KEY, PNG_B64

from genguard import Client, GenerationRequest
from genguard.errors import GenGuardError
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator

# Keys that match no built-in key pattern, so only the provider's own redaction can hide them.
ODD_KEY = "plainsecretvalue-4242-xyz"


def _texts(obj: object) -> list[str]:
    texts = [str(obj), repr(obj)]
    if hasattr(obj, "__dict__"):
        texts.append(repr(vars(obj)))
    if isinstance(obj, BaseException):
        texts.extend(repr(arg) for arg in obj.args)
    return texts


def assert_clean(obj: object, *keys: str) -> None:
    for text in _texts(obj):
        for key in keys:
            assert key not in text, text


def _echo(key: str) -> str:
    return f"Incorrect API key provided: {key}. Bearer {key} / ?key={key}"


GEMINI_ECHOES: list[tuple[int, dict[str, str], Any]] = [
    (400, {}, {"error": {"code": 400, "message": _echo("{k}"), "status": "INVALID_ARGUMENT"}}),
    (429, {}, [{"error": {"code": 429, "message": _echo("{k}"), "status": "{k}"}}]),
    (502, {"content-type": "text/html"}, "<html><title>{k}</title></html>"),
    (503, {}, "upstream said {k}"),
    (
        200,
        {},
        {
            "promptFeedback": {"blockReason": "{k}", "blockReasonMessage": _echo("{k}")},
            "responseId": "{k}",
        },
    ),
    (
        200,
        {},
        {
            "candidates": [
                {
                    "finishReason": "{k}",
                    "finishMessage": "{k}",
                    "content": {"parts": [{"text": _echo("{k}")}]},
                }
            ]
        },
    ),
    (
        200,
        {},
        {
            "candidates": [
                {"finishReason": "SAFETY", "safetyRatings": [{"category": "{k}", "blocked": True}]}
            ]
        },
    ),
    (200, {}, {"candidates": [{"content": {"parts": [{"inlineData": {"data": "{k}"}}]}}]}),
]
OPENAI_ECHOES: list[tuple[int, dict[str, str], Any]] = [
    (
        401,
        {"x-request-id": "{k}"},
        {"error": {"message": _echo("{k}"), "type": "{k}", "code": "{k}", "param": "{k}"}},
    ),
    (400, {}, {"error": {"message": _echo("{k}"), "code": "moderation_blocked"}}),
    (429, {"retry-after": "{k}"}, {"error": {"message": _echo("{k}"), "code": "{k}"}}),
    (500, {}, "<html><body>{k}</body></html>"),
    (200, {"x-request-id": "{k}"}, {"data": [{"b64_json": "{k}"}]}),
    (200, {}, {"data": [{"url": "{k}"}]}),
]


def _fill(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return value.replace("{k}", key)
    if isinstance(value, dict):
        return {_fill(k, key): _fill(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, key) for v in value]
    return value


@pytest.mark.parametrize("key", [GEMINI_KEY, ODD_KEY])
@pytest.mark.parametrize("case", range(len(GEMINI_ECHOES)))
async def test_gemini_errors_never_show_the_key(sim: Simulator, key: str, case: int) -> None:
    status, headers, body = GEMINI_ECHOES[case]
    sim.script("*", [Reply.raw(status, _fill(body, key), _fill(headers, key))])
    provider = GeminiProvider(key, base_url=sim.base_url)
    assert_clean(provider, key)
    async with Client(provider) as client:
        assert_clean(client, key)
        with pytest.raises(GenGuardError) as info:
            await client.generate(GenerationRequest(prompt="x"))
    assert_clean(info.value, key)
    if info.value.__cause__ is not None:
        assert_clean(info.value.__cause__, key)


@pytest.mark.parametrize("key", [OPENAI_KEY, ODD_KEY])
@pytest.mark.parametrize("case", range(len(OPENAI_ECHOES)))
async def test_openai_errors_never_show_the_key(sim: Simulator, key: str, case: int) -> None:
    status, headers, body = OPENAI_ECHOES[case]
    sim.script("*", [Reply.raw(status, _fill(body, key), _fill(headers, key))])
    provider = OpenAIProvider(key, base_url=sim.base_url, organization="org-1")
    assert_clean(provider, key)
    async with Client(provider) as client:
        with pytest.raises(GenGuardError) as info:
            await client.generate(GenerationRequest(prompt="x"))
    assert_clean(info.value, key)


async def test_results_never_show_the_key(sim: Simulator) -> None:
    sim.script("*", [Reply.raw(200, {"data": [{"b64_json": PNG_B64}]}, {"x-request-id": "req_1"})])
    provider = OpenAIProvider(OPENAI_KEY, base_url=sim.base_url)
    async with Client(provider) as client:
        result = await client.generate(GenerationRequest(prompt="x"))
    assert_clean(result, OPENAI_KEY)
    assert sim.captured[0].headers["Authorization"] == f"Bearer {OPENAI_KEY}"


def test_imagen_repr_hides_the_key() -> None:
    assert_clean(ImagenProvider(ODD_KEY), ODD_KEY)
