"""The real stack over loopback HTTP to the simulator: the trace explains the call, and nothing
secret (API key, prompt text, image bytes) reaches a span, a metric label or a log line."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from telemetry_support import Logs, Metrics, Spans

from genguard import Client
from genguard.errors import ContentBlocked
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.safety.chain import ClassifierChain
from genguard.safety.rules import RulesClassifier
from genguard.sim import Simulator
from genguard.sim.replies import Reply

GEMINI_KEY = "AIzaSyTELEMETRY-test-key-0123456789abcdef"
OPENAI_KEY = "sk-proj-telemetry-test-key-0123456789abcdef"
PROMPT = "a watercolour of a heron standing in morning fog"


def stack(spans: Spans, metrics: Metrics, logs: Logs, rate: str = "50/s") -> list[Any]:
    return [
        TelemetryLayer(
            tracer_provider=spans.provider, meter_provider=metrics.provider, logger=logs.logger
        ),
        SafetyLayer(input=ClassifierChain([RulesClassifier()]), log_prompts=True),
        RetryLayer(attempts=4, initial=0.01, max_delay=0.05, max_retry_after=2.0),
        RateLimitLayer(requests=rate),
        TimeoutLayer(5.0),
    ]


async def test_trace_of_a_call_that_retried_twice_after_waiting_for_a_permit(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    async with Simulator("clean") as sim:
        provider = GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
        async with Client(provider, stack(spans, metrics, logs, "2/s"), deadline=10) as client:
            await client.generate("warm-up: takes the first permit")
            sim.script("gemini", [Reply.status(503), Reply.status(429, retry_info="0.050s")])
            result = await client.generate(PROMPT)

    (call_span,) = [
        s
        for s in spans.finished()
        if s.attributes.get("genguard.generation_id") == result.generation_id
    ]
    trace_id = call_span.context.trace_id
    attempts = sorted(
        (s for s in spans.named("genguard.attempt") if s.context.trace_id == trace_id),
        key=lambda s: s.attributes["genguard.attempt"],
    )
    assert call_span.name == "generate_content gemini-2.5-flash-image"
    assert [a.attributes["genguard.attempt"] for a in attempts] == [1, 2, 3]
    assert all(
        a.parent is not None and a.parent.span_id == call_span.context.span_id for a in attempts
    )
    assert [a.attributes.get("error.type") for a in attempts] == [
        "ProviderUnavailable",
        "RateLimited",
        None,
    ]
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]

    attrs = call_span.attributes
    assert attrs["genguard.outcome"] == "success"
    assert attrs["genguard.attempts"] == 3
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.response.id"] == result.request_id
    assert attrs["gen_ai.usage.output_tokens"] == result.usage.output_tokens

    retries = [dict(e.attributes) for e in call_span.events if e.name == "genguard.retry.scheduled"]
    assert [r["genguard.retry.reason"] for r in retries] == ["ProviderUnavailable", "RateLimited"]
    assert retries[1]["genguard.retry.hint_source"] == "retry-info"
    assert retries[1]["genguard.retry.delay"] >= 0.05
    # the first attempt queued behind the warm-up call's permit (2/s: 0.5 s apart)
    waits = [dict(e.attributes) for e in attempts[0].events if e.name == "genguard.limiter.waited"]
    assert len(waits) == 1, [e.name for e in attempts[0].events]
    assert waits[0]["genguard.limiter.reason"] == "rate"
    assert waits[0]["genguard.limiter.seconds"] > 0.1

    assert metrics.value("genguard.retries", genguard__retry__reason="RateLimited") == 1
    assert metrics.value("genguard.calls", genguard__outcome="success") == 2
    lines = [
        line
        for line in logs.events("genguard.call")
        if line["generation_id"] == result.generation_id
    ]
    assert lines[0]["trace_id"] == format(trace_id, "032x")


def leaks(text: str, images: list[bytes]) -> list[str]:
    needles = {
        "gemini key": GEMINI_KEY,
        "openai key": OPENAI_KEY,
        "key fragment": "test-key-0123456789",
        "prompt": PROMPT,
        "prompt fragment": "heron standing",
        "blocked prompt": "severed heads",
    }
    for index, data in enumerate(images):
        needles[f"image {index} base64"] = base64.b64encode(data).decode()[8:40]
        needles[f"image {index} bytes"] = repr(data[8:40])[2:-1]
    return [name for name, needle in needles.items() if needle in text]


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_no_key_prompt_or_image_in_any_export(
    spans: Spans, metrics: Metrics, logs: Logs, api: str
) -> None:
    images: list[bytes] = []
    async with Simulator("clean") as sim:
        provider: Any = (
            GeminiProvider(GEMINI_KEY, base_url=sim.base_url)
            if api == "gemini"
            else OpenAIProvider(OPENAI_KEY, base_url=sim.base_url)
        )
        async with Client(provider, stack(spans, metrics, logs), deadline=10) as client:
            sim.script(api, [Reply.status(503), Reply.status(401), Reply.status(400)])
            with pytest.raises(Exception):  # noqa: B017 - 503 retried, then a 401 ends the call
                await client.generate(PROMPT)
            with pytest.raises(Exception):  # noqa: B017 - a 400
                await client.generate(PROMPT)
            result = await client.generate(PROMPT)
            images.extend(image.data for image in result.images)
            with pytest.raises(ContentBlocked):
                await client.generate("a gruesome massacre scene with severed heads")

    exported = [span.to_json() for span in spans.finished()]
    for metric in metrics.metrics().values():
        for point in metric.data.data_points:
            exported.extend(f"{k}={v}" for k, v in (point.attributes or {}).items())
    exported.append(logs.text())
    text = "\n".join(exported)
    assert len(images[0]) > 100
    assert (
        len(spans.finished()) >= 8 and "genguard.safety.verdict" in text
    )  # real output was checked
    assert text.count('"event": "genguard.call"') == 4
    assert leaks(text, images) == []
