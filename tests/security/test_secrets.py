"""Items 3, 11 and 13: a key never follows a redirect, never leaves in what a response
echoes, never sits in a plain dict, never shows in ``config show``/``check``; and
redaction never changes how a response is classified."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest
from capture import Capture

from genguard import Client
from genguard.config import api as config_api
from genguard.errors import ClassifierUnavailable, ContentBlocked, ProviderError
from genguard.model import GenerationRequest
from genguard.providers.gemini import GeminiProvider
from genguard.providers.imagen import ImagenProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.safety.moderation import ModerationClassifier
from genguard.sim import Reply, Simulator

# Not shaped like any known key format: only the providers' own knowledge of it helps.
KEY = "hunter2-plain-looking-credential-42"


def _provider(kind: str, base_url: str, key: str = KEY) -> object:
    if kind == "gemini":
        return GeminiProvider(key, base_url=base_url)
    if kind == "imagen":
        return ImagenProvider(key, base_url=base_url)
    return OpenAIProvider(key, base_url=base_url)


def redirect_to(url: str, status: int = 307) -> Reply:
    return Reply.raw(status, b"", {"location": url})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", ["gemini", "imagen", "openai"])
async def test_no_key_follows_a_redirect_to_another_origin(kind: str, status: int) -> None:
    async with Simulator(capture=True) as thief, Simulator(capture=True) as origin:
        origin.script("*", [redirect_to(f"{thief.base_url}/steal", status)])
        async with Client(_provider(kind, origin.base_url)) as client:  # type: ignore[arg-type]
            with pytest.raises(ProviderError) as info:
                await client.generate("a cat")
    assert len(origin.captured) == 1  # the origin was asked and redirected...
    assert len(thief.captured) == 0  # ...and the redirect was not followed at all
    assert info.value.status == status
    assert KEY not in str(info.value) and KEY not in repr(info.value)


async def test_the_moderation_key_does_not_follow_a_redirect() -> None:
    async with Simulator(capture=True) as thief, Simulator() as origin:
        origin.script("moderations", [redirect_to(f"{thief.base_url}/steal")])
        transport = HttpTransport()
        classifier = ModerationClassifier(
            api_key=KEY, transport=transport, base_url=origin.base_url, fail="open"
        )
        verdict = await classifier.classify(GenerationRequest(prompt="a cat"))
        await transport.aclose()
    assert len(thief.captured) == 0
    assert verdict.error is not None and "307" in verdict.error


@pytest.mark.parametrize("kind", ["gemini", "openai"])
async def test_a_key_echoed_in_a_200_never_reaches_spans_logs_or_metrics(kind: str) -> None:
    # The simulator's echo-key profile reflects the request's key into the answer's
    # text fields (Gemini's finishReason, modelVersion, responseId; OpenAI's
    # revised_prompt, which is the caller's own data and is left as sent).
    async with Simulator("echo-key", capture=True) as server:
        with Capture() as capture:
            async with Client(_provider(kind, server.base_url), [capture.layer]) as client:  # type: ignore[arg-type]
                result = await client.generate("a cat")
    sent = server.captured[0].headers
    assert KEY in (sent.get("x-goog-api-key", "") + sent.get("authorization", ""))
    assert result.images
    assert KEY not in (result.model or "") and KEY not in (result.finish_reason or "")
    assert KEY not in (result.request_id or "")
    text = capture.text()
    assert "gen_ai.response.model" in text  # the attributes were recorded...
    assert KEY not in text  # ...without the key


async def test_the_moderation_classifier_keeps_its_key_out_of_traceback_locals() -> None:
    async with Simulator() as server:
        server.script("moderations", [Reply.raw(500, {"error": {"message": "down"}})])
        transport = HttpTransport()
        classifier = ModerationClassifier(
            api_key=KEY, transport=transport, base_url=server.base_url, fail="closed"
        )
        with pytest.raises(ClassifierUnavailable) as info:
            await classifier.classify(GenerationRequest(prompt="a cat"))
        await transport.aclose()
    # What Sentry captures by default: every frame's locals, repr'd.
    report = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "headers" in report  # the frame's locals were captured...
    assert KEY not in report  # ...and none shows the key
    assert KEY not in repr(classifier) and KEY not in repr(
        vars(classifier) if hasattr(classifier, "__dict__") else {}
    )


@pytest.mark.parametrize("key", ["ck", "bl", "on", "a"])
async def test_a_short_key_never_changes_how_a_block_is_classified(key: str) -> None:
    body = {
        "error": {
            "message": "Your request was rejected by the safety system.",
            "type": "image_generation_user_error",
            "code": "moderation_blocked",
            "param": None,
        }
    }
    async with (
        Simulator() as server,
        Client(OpenAIProvider(key, base_url=server.base_url)) as client,
    ):
        server.script("openai", [Reply.raw(400, body)])
        with pytest.raises(ContentBlocked) as info:
            await client.generate("a cat")
    assert info.value.reason == "moderation_blocked"


@pytest.mark.parametrize("key", ["TO", "P", "AG"])
async def test_a_short_gemini_key_never_changes_a_finish_reason(key: str) -> None:
    candidate = {"content": {"parts": [{"text": "no"}]}, "finishReason": "STOP"}
    async with (
        Simulator() as server,
        Client(GeminiProvider(key, base_url=server.base_url)) as client,
    ):
        server.script("gemini", [Reply.raw(200, {"candidates": [candidate]})])
        with pytest.raises(ProviderError) as info:
            await client.generate("a cat")
    assert info.value.code == "NO_IMAGE" and info.value.retryable


CONFIG = """
version: 1
profiles:
  p:
    provider:
      type: gemini
      api_key: ${GEMINI_API_KEY}
      base_url: "https://proxy.example/v1?key=${GEMINI_API_KEY}"
    state: {backend: redis, url: "redis://cache.example:6379/0?password=${REDIS_PASSWORD}"}
    telemetry: {service_name: "svc-${GEMINI_API_KEY}"}
    layers: [telemetry]
"""


def test_config_show_masks_secrets_interpolated_into_other_fields(tmp_path: Path) -> None:
    path = tmp_path / "genguard.yaml"
    path.write_text(CONFIG)
    env = {"GEMINI_API_KEY": KEY, "REDIS_PASSWORD": "redis-pass-1234"}
    shown = config_api.show(path, "p", env=env)
    assert "proxy.example" in shown and "cache.example" in shown
    assert KEY not in shown
    assert "redis-pass-1234" not in shown


def test_config_check_never_echoes_a_variables_value(tmp_path: Path) -> None:
    path = tmp_path / "genguard.yaml"
    path.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: gemini, api_key: '${K}'}\n"
        "    deadline: ${DEADLINE}\n    layers:\n      - retry: {attempts: '${ATTEMPTS}'}\n"
    )
    env = {"K": KEY, "DEADLINE": "pasted-secret-value-9", "ATTEMPTS": "another-secret-77"}
    problems = config_api.check(path, env=env)
    text = "\n".join(f"{p} {p!r} {p.message} {p.reason}" for p in problems)
    assert "deadline" in text and "attempts" in text  # both errors are reported...
    assert "pasted-secret-value-9" not in text and "another-secret-77" not in text
    assert "${DEADLINE}" in text or "DEADLINE" in text


def test_config_show_errors_never_echo_a_variables_value(tmp_path: Path) -> None:
    path = tmp_path / "genguard.yaml"
    path.write_text(
        "version: 1\nprofiles:\n  p:\n    provider: {type: gemini, api_key: '${K}'}\n"
        "    deadline: ${DEADLINE}\n"
    )
    with pytest.raises(Exception) as info:
        config_api.show(path, "p", env={"K": KEY, "DEADLINE": "pasted-secret-value-9"})
    assert "pasted-secret-value-9" not in str(info.value)
    assert json.dumps(str(info.value))


@pytest.mark.parametrize("kind", ["gemini", "openai", "moderation"])
async def test_a_connection_failure_keeps_the_key_out_of_traceback_locals(kind: str) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused inside
    # aiohttp, whose frames hold the request headers as plain mappings.
    error: BaseException
    if kind == "moderation":
        transport = HttpTransport()
        classifier = ModerationClassifier(
            api_key=KEY, transport=transport, base_url="http://127.0.0.1:9", fail="closed"
        )
        with pytest.raises(ClassifierUnavailable) as raised:
            await classifier.classify(GenerationRequest(prompt="a cat"))
        error = raised.value
        await transport.aclose()
    else:
        async with Client(_provider(kind, "http://127.0.0.1:9")) as client:  # type: ignore[arg-type]
            with pytest.raises(ProviderError) as failed:
                await client.generate("a cat")
            error = failed.value
    report = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    assert "connection" in report.lower()  # the cause is still told...
    assert KEY not in report  # ...without any frame's headers
