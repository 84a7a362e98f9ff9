"""Safety against the simulator over real HTTP: every provider block becomes one verdict.

The expected stage and category of each response are read from the response as
it crossed the wire (a recording transport keeps every raw response), so the
check does not trust the provider adapters it is checking.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any, Literal

import pytest

from genguard import Client, GenerationRequest, RecordingObserver
from genguard.errors import ClassifierUnavailable, ContentBlocked
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.transport import HttpTransport, RawResponse
from genguard.safety import ClassifierChain, ModerationClassifier, RulesClassifier
from genguard.safety.categories import (
    GEMINI_BLOCK_REASONS,
    OPENAI_BLOCK_CODES,
    OPENAI_MODERATION_CATEGORIES,
    UNSPECIFIED,
    gemini_category,
)
from genguard.sim import Simulator
from support import provider_for

Api = Literal["gemini", "openai"]
CALLS = 60


class RecordingTransport(HttpTransport):
    """The client's transport, keeping every raw response of a generation request in order
    (not the downloads of dall-e image URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[RawResponse] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> RawResponse:
        response = await super().request(method, url, **kwargs)
        if method == "POST":
            self.responses.append(response)
        return response


def expected_block(api: Api, raw: RawResponse) -> tuple[str, str] | None:
    """(stage, category) if this response is a provider block, read off the wire."""
    try:
        body = json.loads(raw.body)
    except ValueError:
        return None
    if api == "gemini":
        if raw.status != 200:
            return None
        feedback = body.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            harms = [r["category"] for r in feedback.get("safetyRatings", []) if r.get("blocked")]
            return "input", gemini_category(feedback["blockReason"], harms)
        candidates = body.get("candidates") or [{}]
        reason = candidates[0].get("finishReason")
        if reason in GEMINI_BLOCK_REASONS:
            return "output", GEMINI_BLOCK_REASONS[reason]
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if raw.status != 400 or not error or error.get("code") not in OPENAI_BLOCK_CODES:
        return None
    details = error.get("moderation_details") or {}
    stage = details.get("moderation_stage", "input")
    mapped = [OPENAI_MODERATION_CATEGORIES[c] for c in details.get("categories", [])]
    return stage, mapped[0] if mapped else UNSPECIFIED


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_every_provider_block_is_content_blocked_never_retried_never_a_failure(
    api: Api,
) -> None:
    recorder = RecordingObserver()
    transport = RecordingTransport()
    breaker = CircuitBreakerLayer(fail_max=1, reset_timeout=60)
    layers: list[Layer] = [
        SafetyLayer(input=None),
        RetryLayer(attempts=4, initial=0.01, max_delay=0.05, rng=random.Random(1)),
        breaker,
    ]
    rng = random.Random(7)
    words = ["violence-test", "minors-test", "hate-test", "self-harm-test", "sexual-test"]
    async with Simulator(profile="safety", fraction=0.3) as sim:
        provider = provider_for(api, sim.base_url)
        client = Client(provider, layers, observer=recorder, transport=transport)
        outcomes: list[tuple[str, ContentBlocked | None]] = []
        async with client:
            for i in range(CALLS):
                prompt = f"a lighthouse at dusk #{i}"
                if rng.random() < 0.3:
                    prompt += f" {rng.choice(words)}"
                model = "dall-e-3" if api == "openai" and i % 3 == 0 else None
                try:
                    await client.generate(GenerationRequest(prompt=prompt, model=model))
                except ContentBlocked as exc:
                    outcomes.append((prompt, exc))
                else:
                    outcomes.append((prompt, None))
            keys = {f"{api}/{r.model}" for r in sim.log}
            snapshots = [await breaker.snapshot(k) for k in keys]
        await transport.aclose()
        image_requests = [r for r in sim.log if r.api == api]

    # One request per call: nothing was retried.
    assert len(transport.responses) == len(image_requests) == CALLS
    assert recorder.of("retry_scheduled") == []
    expected = [expected_block(api, raw) for raw in transport.responses]
    blocked = [e for e in expected if e is not None]
    assert 0.2 * CALLS < len(blocked) < 0.8 * CALLS  # the profile really blocked a share
    if api == "gemini":
        assert {stage for stage, _ in blocked} == {"input", "output"}
    else:
        # content_policy_violation (dall-e: unspecified) and moderation_blocked (categorised)
        assert {category for _, category in blocked} > {UNSPECIFIED}

    # 100% of blocked responses raised ContentBlocked with the wire's stage and category.
    for (prompt, error), want in zip(outcomes, expected, strict=True):
        if want is None:
            assert error is None, prompt
            continue
        assert error is not None, prompt
        assert (error.stage, error.category, error.source) == (*want, "provider"), prompt
        assert error.reason and error.provider == api

    # Zero breaker failures: fail_max=1 would have opened on the first one.
    assert recorder.of("breaker_changed") == []
    assert all(s.state == "closed" and s.consecutive_failures == 0 for s in snapshots)
    assert all(s.window_failures == 0 for s in snapshots)

    # Every block was counted by stage and category.
    counted = Counter(
        (v["stage"], next(iter(v["categories"])))
        for v in recorder.of("safety_verdict")
        if v["action"] == "block"
    )
    assert counted == Counter(blocked)


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_input_classifiers_refuse_before_the_provider(api: Api) -> None:
    recorder = RecordingObserver()
    async with Simulator(profile="clean") as sim:
        transport = HttpTransport()
        moderation = ModerationClassifier(
            api_key="sim-key", base_url=sim.base_url, transport=transport, timeout=2.0
        )
        chain = ClassifierChain([RulesClassifier(), moderation])
        client = Client(
            provider_for(api, sim.base_url), [SafetyLayer(input=chain)], observer=recorder,
            transport=transport,
        )  # fmt: skip
        async with client:
            with pytest.raises(ContentBlocked) as by_rules:
                await client.generate("a decapitated knight")
            with pytest.raises(ContentBlocked) as by_moderation:
                await client.generate("a knight hate-test")
            result = await client.generate("a knight on a horse")
        await transport.aclose()
        apis = [r.api for r in sim.log]
    assert (by_rules.value.source, by_rules.value.category) == ("classifier", "violence")
    assert (by_moderation.value.source, by_moderation.value.category) == ("classifier", "hate")
    assert by_moderation.value.reason == "flagged: hate"
    assert result.images
    # rules refused the first prompt alone; moderation saw the other two; one image call.
    assert apis == ["moderations", "moderations", api]


async def test_moderation_outage_on_the_wire_under_both_policies() -> None:
    async with Simulator(profile="clean") as sim:
        base_url = sim.base_url
    # The simulator is gone: its port now refuses connections.
    async with Simulator(profile="clean") as sim:
        transport = HttpTransport()
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        layers_open = [
            SafetyLayer(input=ClassifierChain([ModerationClassifier(
                api_key="sim-key", base_url=base_url, transport=transport, fail="open")]))
        ]  # fmt: skip
        recorder = RecordingObserver()
        async with Client(provider, layers_open, observer=recorder, transport=transport) as c:
            assert (await c.generate("a knight")).images
        await transport.aclose()
        notices = recorder.of("notice")
        failed_open = [n for n in notices if n["event"] == "safety_classifier_failed_open"]
        assert len(failed_open) == 1 and "connection failed" in failed_open[0]["error"]
        transport2 = HttpTransport()
        layers_closed = [
            SafetyLayer(input=ClassifierChain([ModerationClassifier(
                api_key="sim-key", base_url=base_url, transport=transport2, fail="closed")]))
        ]  # fmt: skip
        async with Client(provider, layers_closed, transport=transport2) as c:
            with pytest.raises(ClassifierUnavailable):
                await c.generate("a knight")
        await transport2.aclose()
        assert [r.api for r in sim.log] == ["gemini"]
