"""The span tree of a call: one call span, one child per attempt, events for what happened.

The events come from the real retry, rate-limit, breaker and safety layers, with the
simulator answering over HTTP, on fake time (``telemetry_support.sim_stack``).
"""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from telemetry_support import (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    RESPONSE_ID,
    RETRIED_TWICE,
    Logs,
    Metrics,
    Spans,
    breaker,
    limiter,
    retry,
    sim_stack,
)

from genguard import Client, FakeClock, GenerationRequest, GenerationResult
from genguard.errors import ContentBlocked, ProviderUnavailable
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.providers.openai import OpenAIProvider
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Reply, Simulator
from support import drive

MODEL = "gemini-2.5-flash-image"
CALL_SPAN = f"generate_content {MODEL}"


def input_rules(word: str = "forbidden") -> SafetyLayer:
    """The real safety layer, blocking prompts with ``word`` as violence."""
    return SafetyLayer(input=ClassifierChain([RulesClassifier({"violence": [word]})]))


def telemetry(spans: Spans, metrics: Metrics, logs: Logs, **kw: object) -> TelemetryLayer:
    return TelemetryLayer(
        tracer_provider=spans.provider,
        meter_provider=metrics.provider,
        logger=logs.logger,
        **kw,  # type: ignore[arg-type]
    )


async def test_retried_twice_waited_then_succeeded(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    """503, then 429 asking for 0.5 s, then success, one request a second: attempt 1 at
    0 s, retry 0.5 s, attempt 2 waits 0.5 s for its slot at 1 s, retry 0.5 s, attempt 3
    waits 0.5 s for its slot at 2 s."""
    layers = [telemetry(spans, metrics, logs), retry(delay=0.5), limiter("1/s")]
    async with sim_stack(layers, RETRIED_TWICE) as stack:
        result = await stack.generate(GenerationRequest(prompt="a lighthouse at dusk", seed=0))
    assert stack.clock.now() == pytest.approx(2.0)

    finished = spans.finished()
    assert len(finished) == 4
    (call_span,) = spans.named(CALL_SPAN)
    attempts = sorted(
        spans.named("genguard.attempt"), key=lambda s: s.attributes["genguard.attempt"]
    )
    assert [a.attributes["genguard.attempt"] for a in attempts] == [1, 2, 3]

    # tree: every attempt is a child of the call span, in one trace, one after the other
    call_ctx = call_span.get_span_context()
    for attempt in attempts:
        assert attempt.parent is not None
        assert attempt.parent.span_id == call_ctx.span_id
        assert attempt.get_span_context().trace_id == call_ctx.trace_id
        assert attempt.kind is SpanKind.INTERNAL
        assert "genguard.partition_key" not in attempt.attributes  # same as the call's
    assert attempts[0].end_time <= attempts[1].start_time <= attempts[1].end_time
    assert attempts[1].end_time <= attempts[2].start_time
    assert call_span.parent is None
    assert call_span.kind is SpanKind.CLIENT

    # attempt outcomes
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[0].attributes["error.type"] == "ProviderUnavailable"
    assert attempts[1].status.status_code is StatusCode.ERROR
    assert attempts[1].attributes["error.type"] == "RateLimited"
    assert attempts[2].status.status_code is StatusCode.UNSET
    assert "error.type" not in attempts[2].attributes

    # call span attributes: GenAI conventions plus genguard's own
    attrs = call_span.attributes
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.request.seed"] == 0
    assert "gen_ai.request.choice.count" not in attrs  # the convention: only when n != 1
    assert attrs["gen_ai.output.type"] == "image"
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.id"] == RESPONSE_ID
    assert attrs["gen_ai.response.finish_reasons"] == ("STOP",)
    assert attrs["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    assert attrs["genguard.generation_id"] == result.generation_id
    assert attrs["genguard.partition_key"] == f"gemini/{MODEL}"
    assert attrs["genguard.attempts"] == 3
    assert attrs["genguard.outcome"] == "success"
    assert attrs["genguard.images"] == 1
    assert attrs["genguard.prompt.length"] == len("a lighthouse at dusk")
    assert len(str(attrs["genguard.prompt.sha256"])) == 16
    assert call_span.status.status_code is StatusCode.UNSET

    # retries are events on the call span (the failed attempt has ended by then)
    retries = [e for e in call_span.events if e.name == "genguard.retry.scheduled"]
    assert [dict(e.attributes) for e in retries] == [
        {
            "genguard.attempt": 1,
            "genguard.retry.delay": 0.5,
            "genguard.retry.reason": "ProviderUnavailable",
            "genguard.retry.hint_source": "none",  # a bare 503
        },
        {
            "genguard.attempt": 2,
            "genguard.retry.delay": 0.5,
            "genguard.retry.reason": "RateLimited",
            "genguard.retry.hint_source": "retry-after",
        },
    ]
    # a permit wait is an event on the attempt that waited, and only on those
    assert not attempts[0].events  # the first attempt was admitted at once
    for attempt in attempts[1:]:
        waits = [e for e in attempt.events if e.name == "genguard.limiter.waited"]
        assert [dict(e.attributes) for e in waits] == [
            {
                "genguard.limiter.key": f"gemini/{MODEL}",
                "genguard.limiter.seconds": 0.5,
                "genguard.limiter.reason": "rate",
            }
        ]


async def test_blocked_call(spans: Spans, metrics: Metrics, logs: Logs) -> None:
    layers = [telemetry(spans, metrics, logs), input_rules(), retry(), limiter()]
    async with sim_stack(layers) as stack:
        with pytest.raises(ContentBlocked) as blocked:
            await stack.generate("something forbidden here")

    assert stack.sim.requests == 0
    finished = spans.finished()
    assert [s.name for s in finished] == [CALL_SPAN]  # no attempt was made
    (span,) = finished
    assert span.status.status_code is StatusCode.ERROR
    message = "prompt blocked by the 'rules' classifier (category: violence)"
    assert str(blocked.value) == message and span.status.description == message
    assert span.attributes["error.type"] == "ContentBlocked"
    assert span.attributes["genguard.outcome"] == "blocked"
    assert span.attributes["genguard.attempts"] == 0
    verdicts = [e for e in span.events if e.name == "genguard.safety.verdict"]
    assert len(verdicts) == 1
    assert dict(verdicts[0].attributes) == {
        "genguard.safety.stage": "input",
        "genguard.safety.allowed": False,
        "genguard.safety.action": "block",
        "genguard.safety.classifier": "rules",
        "genguard.safety.categories": ("violence",),
        "genguard.safety.scores": (1.0,),
    }
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert exception.attributes["exception.type"] == "genguard.errors.ContentBlocked"
    assert exception.attributes["exception.message"] == message
    assert "Traceback" in str(exception.attributes["exception.stacktrace"])


async def test_breaker_transition_is_an_event_on_the_attempt(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    """Two 503s trip a breaker with ``fail_max=2``: the second attempt's span says so."""
    layers = [telemetry(spans, metrics, logs), breaker(fail_max=2)]
    async with sim_stack(layers, [Reply.status(503)] * 2) as stack:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await stack.generate("a prompt")
    first, second = spans.named("genguard.attempt")
    assert not first.events  # one failure: still closed
    (event,) = second.events
    assert event.name == "genguard.breaker.changed"
    assert dict(event.attributes) == {
        "genguard.breaker.key": f"gemini/{MODEL}",
        "genguard.breaker.from": "closed",
        "genguard.breaker.to": "open",
        "genguard.breaker.state": "open",
        "genguard.breaker.reason": "consecutive_failures",
    }
    call_span = spans.named(CALL_SPAN)[-1]
    assert call_span.attributes["genguard.outcome"] == "unavailable"
    assert call_span.attributes["error.type"] == "ProviderUnavailable"


async def test_openai_provider_name_and_sampled_out_spans(metrics: Metrics, logs: Logs) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    layer = TelemetryLayer(
        tracer_provider=provider, meter_provider=metrics.provider, logger=logs.logger
    )
    clock = FakeClock(start=0.0, auto=False)
    async with Simulator(clock=clock) as sim:
        openai = OpenAIProvider("sim-key", base_url=sim.base_url)
        async with Client(openai, [layer, retry()], clock=clock) as client:
            (result,) = await drive(clock, [client.generate("a prompt")])
    assert isinstance(result, GenerationResult)
    assert exporter.get_finished_spans() == ()  # sampled out: nothing recorded, nothing broken
    assert metrics.value("genguard.calls", gen_ai__provider__name="openai") == 1
    (line,) = logs.events("genguard.call")
    assert line["outcome"] == "success"
    provider.shutdown()
