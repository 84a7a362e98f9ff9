"""The official SDKs as providers: the real ``openai`` and ``google-genai`` packages,
their base URLs pointed at the simulator, give the same outcomes as the built-in
providers under the flaky and ratelimit profiles, with the SDKs' own retries off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from google import genai

from genguard import Client, Image, RecordingObserver
from genguard.errors import (
    AuthenticationError,
    ContentBlocked,
    GenGuardError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.genai_sdk import GenAISDKProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.openai_sdk import OpenAISDKProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply

KEY = "sk-sdk-test-key-000000000000000000"
GKEY = "AIzaSdkTestKey00000000000000000000000"

Factory = Callable[[str], Any]


def openai_builtin(base_url: str) -> Any:
    return OpenAIProvider(KEY, base_url=base_url)


def openai_sdk(base_url: str) -> Any:
    return OpenAISDKProvider(openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1"))


def gemini_builtin(base_url: str) -> Any:
    return GeminiProvider(GKEY, base_url=base_url)


def gemini_sdk(base_url: str) -> Any:
    options = genai.types.HttpOptions(base_url=base_url, api_version="v1beta")
    return GenAISDKProvider(genai.Client(api_key=GKEY, http_options=options))


async def close(provider: Any) -> None:
    """Close an SDK client the test made (the application owns its client)."""
    if isinstance(provider, OpenAISDKProvider):
        await provider.client.close()
    elif isinstance(provider, GenAISDKProvider):
        await provider.client.aio.aclose()


PAIRS = {"openai": (openai_builtin, openai_sdk), "gemini": (gemini_builtin, gemini_sdk)}


async def outcomes(
    factory: Factory, profile: str, calls: int, **options: Any
) -> tuple[list[str], list[int], int, int]:
    """Per call "ok/N attempts" or the error type; the simulator's statuses; attempts made;
    Retry-After violations."""
    observer = RecordingObserver()
    async with Simulator(profile, seed=4, **options) as sim:
        retry = RetryLayer(attempts=6, initial=0.01, max_delay=0.05, max_retry_after=5)
        provider = factory(sim.base_url)
        async with Client(provider, [retry], observer=observer) as client:
            found: list[str] = []
            for index in range(calls):
                try:
                    result = await client.generate(f"a lighthouse #{index}", seed=index)
                except GenGuardError as error:
                    found.append(type(error).__name__)
                else:
                    assert result.image.format == "image/png"
                    found.append(f"ok/{result.attempts}")
        await close(provider)
        statuses = [record.status for record in sim.log]
        return found, statuses, len(observer.of("attempt_started")), sim.retry_after_violations


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_flaky_same_outcomes_as_builtin_and_sdk_retries_off(api: str) -> None:
    builtin, sdk = PAIRS[api]
    expected = await outcomes(builtin, "flaky", 12, max_hint=0.1)
    got = await outcomes(sdk, "flaky", 12, max_hint=0.1)
    assert got[0] == expected[0]  # the same calls succeed after the same number of attempts
    assert got[1] == expected[1]  # the simulator saw the same requests, answered the same way
    assert any(status >= 429 for status in got[1])  # faults happened and were retried
    assert len(got[1]) == got[2]  # one request per genguard attempt: no SDK retry inside
    assert got[3] == 0


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_ratelimit_same_outcomes_and_hints_obeyed(api: str) -> None:
    builtin, sdk = PAIRS[api]
    for factory in (builtin, sdk):
        found, statuses, attempts, violations = await outcomes(factory, "ratelimit", 6)
        assert all(item.startswith("ok/") for item in found)
        assert 429 in statuses  # back-to-back calls hit the bucket
        assert len(statuses) == attempts  # no hidden SDK retry
        assert violations == 0  # retry-after-ms / RetryInfo obeyed through the SDK


async def test_sdk_alone_sends_one_request_per_attempt() -> None:
    """Without genguard's retry layer, a 503 is one request: the SDKs' retries are off.
    The bare SDK clients, left as they are, would have sent three (openai) or retried."""
    async with Simulator("clean") as sim:
        sim.script("*", [Reply.status(503)] * 8)
        first, second = openai_sdk(sim.base_url), gemini_sdk(sim.base_url)
        async with Client(first) as client:
            with pytest.raises(ProviderUnavailable) as caught:
                await client.generate("a fox")
        assert caught.value.status == 503
        async with Client(second) as client:
            with pytest.raises(ProviderUnavailable):
                await client.generate("a fox")
        await close(first)
        await close(second)
        assert len(sim.log) == 2
        bare = openai.AsyncOpenAI(api_key=KEY, base_url=f"{sim.base_url}/v1")
        assert bare.max_retries == 2  # what the adapter turns off
        with pytest.raises(openai.APIStatusError):
            await bare.images.generate(model="gpt-image-1", prompt="a fox")
        assert len(sim.log) == 5  # the SDK on its own: 1 + 2 retries
        await bare.close()


async def test_openai_sdk_errors_map_onto_the_error_tree_with_hints() -> None:
    async with Simulator("clean") as sim:
        provider = openai_sdk(sim.base_url)
        assert provider.max_retries == 0
        sim.script(
            "openai",
            [
                Reply.status(429, retry_after_ms=1500, retry_after="2"),
                Reply.status(429, body={"error": {"code": "insufficient_quota", "message": "x"}}),
                Reply.status(401),
            ],
        )
        async with Client(provider) as client:
            with pytest.raises(RateLimited) as limited:
                await client.generate("a fox")
            assert limited.value.retry_after == 1.5
            assert limited.value.hint_source == "retry-after-ms"
            with pytest.raises(QuotaExhausted):
                await client.generate("a fox")
            with pytest.raises(AuthenticationError) as auth:
                await client.generate("a fox")
            assert KEY not in str(auth.value) and KEY not in repr(auth.value)
            blocked = await _blocked(client, sim)
            assert blocked.source == "provider"
        await close(provider)


async def test_genai_sdk_errors_keep_retry_info_hints() -> None:
    async with Simulator("ratelimit", rate=0.5) as sim:
        provider = gemini_sdk(sim.base_url)
        async with Client(provider) as client:
            await client.generate("a fox")
            with pytest.raises(RateLimited) as limited:
                await client.generate("a fox")
        await close(provider)
        assert limited.value.hint_source == "retry-info"
        assert limited.value.retry_after is not None and 1.0 < limited.value.retry_after <= 2.0


async def _blocked(client: Client, sim: Simulator) -> ContentBlocked:
    sim.set_profile("safety", fraction=1.0)
    with pytest.raises(ContentBlocked) as caught:
        await client.generate("a calm sea")
    sim.set_profile("clean")
    return caught.value


async def test_openai_sdk_edits_send_the_images() -> None:
    png = Image(b"\x89PNG\r\n\x1a\n" + bytes(64))
    async with Simulator("clean") as sim:
        provider = openai_sdk(sim.base_url)
        async with Client(provider) as client:
            result = await client.generate("make it blue", images=(png, png))
        await close(provider)
        (record,) = sim.log
        assert record.path == "/v1/images/edits"
        assert result.image.format == "image/png"


async def test_gemini_sdk_conversation_keeps_thought_signatures() -> None:
    async with Simulator("clean") as sim:
        provider = gemini_sdk(sim.base_url)
        async with Client(provider) as client:
            chat = client.conversation()
            first = await chat.send("a red fox", model="gemini-3-pro-image-preview")
            second = await chat.send("now in snow", model="gemini-3-pro-image-preview")
        await close(provider)
        assert first.thought_signatures  # decoded by the SDK, sent back intact
        assert second.image.format == "image/png"
        assert [r.status for r in sim.log] == [200, 200]  # strict signature check passed


async def test_adapters_refuse_other_clients_and_hide_keys() -> None:
    with pytest.raises(TypeError):
        OpenAISDKProvider(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        GenAISDKProvider(object())  # type: ignore[arg-type]
    provider = openai_sdk("http://127.0.0.1:9")
    assert KEY not in repr(provider) and "max_retries=0" in repr(provider)
    azure = OpenAISDKProvider(
        openai.AsyncAzureOpenAI(
            api_key=KEY, azure_endpoint="https://example.invalid", api_version="2025-04-01-preview"
        ),
        model="my-image-deployment",
    )
    assert azure.azure and azure.max_retries == 0
    gemini = gemini_sdk("http://127.0.0.1:9")
    assert GKEY not in repr(gemini)
    for made in (provider, azure, gemini):
        await close(made)


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_cancelling_a_call_cancels_the_sdk_request(api: str) -> None:
    """The SDK's request is cancelled with the call: no task left running afterwards."""
    _, sdk = PAIRS[api]
    async with Simulator("realistic", min_latency=300, max_latency=300) as sim:
        provider = sdk(sim.base_url)
        async with Client(provider) as client:
            task = asyncio.create_task(client.generate("a slow lighthouse"))
            await asyncio.sleep(0.2)  # the request is out, the simulator is "generating"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await close(provider)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in leftover if "generate" in repr(t.get_coro())]
