"""Fallback over real HTTP: Gemini (one simulator, in an outage) then OpenAI (another, clean)."""

from __future__ import annotations

import asyncio

import pytest

from genguard import Client, GenerationRequest, Layer, RecordingObserver
from genguard.errors import ContentBlocked
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.sim import Simulator

CALLS = 40
CONCURRENCY = 8
FAIL_MAX = 3


async def test_with_the_primary_in_outage_every_call_is_served_by_the_secondary() -> None:
    recorder = RecordingObserver()
    async with (
        Simulator(profile="outage", duration=60) as gemini_sim,
        Simulator(profile="clean") as openai_sim,
    ):
        transport = HttpTransport()  # one session for the primary and the target
        secondary = FallbackTarget(
            OpenAIProvider("sk-sim-secondary-key", base_url=openai_sim.base_url),
            layers=[CircuitBreakerLayer(fail_max=FAIL_MAX), TimeoutLayer(10)],
        )
        layers: list[Layer] = [
            FallbackLayer([secondary], transport=transport),
            CircuitBreakerLayer(fail_max=FAIL_MAX, reset_timeout=60),
            TimeoutLayer(10),
        ]
        primary = GeminiProvider("sim-primary-key", base_url=gemini_sim.base_url)
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> tuple[str, str, int]:
            async with slots:
                result = await client.generate(
                    GenerationRequest(
                        prompt=f"a harbour at dawn #{i}", model="gemini-2.5-flash-image"
                    )
                )
                return result.provider, result.model, len(result.images)

        try:
            async with Client(primary, layers, observer=recorder, transport=transport) as client:
                results = await asyncio.gather(*(one(i) for i in range(CALLS)))
        finally:
            await transport.aclose()
        gemini_log = [r for r in gemini_sim.log if r.api == "gemini"]
        openai_log = [r for r in openai_sim.log if r.api == "openai"]

    assert results == [("openai", "gpt-image-1", 1)] * CALLS
    # The primary saw only the requests in flight before its breaker tripped.
    assert {r.status for r in gemini_log} == {503}
    assert len(gemini_log) <= CONCURRENCY + FAIL_MAX - 1
    # The target got every call, for its own model (the Gemini override was dropped).
    assert [r.status for r in openai_log] == [200] * CALLS
    assert {r.body["model"] for r in openai_log} == {"gpt-image-1"}
    used = recorder.of("fallback_used")
    assert len(used) == CALLS
    assert {(u["from_key"], u["to_key"]) for u in used} == {
        ("gemini/gemini-2.5-flash-image", "openai/gpt-image-1")
    }
    assert {u["reason"] for u in used} == {"unavailable", "circuit_open"}


async def test_a_prompt_the_primary_blocks_is_not_sent_to_the_secondary() -> None:
    async with (
        Simulator(profile="safety") as gemini_sim,
        Simulator(profile="clean") as openai_sim,
    ):
        target = FallbackTarget(
            OpenAIProvider("sk-sim-secondary-key", base_url=openai_sim.base_url)
        )
        primary = GeminiProvider("sim-primary-key", base_url=gemini_sim.base_url)
        async with Client(primary, [FallbackLayer([target])]) as client:
            with pytest.raises(ContentBlocked) as info:
                await client.generate("a violence-test poster")
            assert (await client.generate("a quiet harbour")).provider == "gemini"
        assert info.value.source == "provider"
        assert [r.api for r in gemini_sim.log] == ["gemini", "gemini"]
        assert [r for r in openai_sim.log if r.api == "openai"] == []
