"""structlog lines: one per call and per notable event, each tied to its trace.

The events come from the real retry, rate-limit and safety layers, with the simulator
answering over HTTP, on fake time (``telemetry_support.sim_stack``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from telemetry_support import (
    GEMINI_OK,
    INPUT_TOKENS,
    FakeProvider,
    Logs,
    Spans,
    limiter,
    retry,
    sim_stack,
)

from genguard import Client
from genguard.errors import ContentBlocked
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Reply
from genguard.telemetry import configure_logging, get_logger, reset_logging
from genguard.telemetry.privacy import prompt_digest

PROMPT = "a lighthouse at dusk"


async def test_one_line_per_call_and_per_event_with_trace_ids(spans: Spans, logs: Logs) -> None:
    """A 503, then success, one request a second: the retry waits 0.5 s, then the second
    attempt waits 0.5 s more for its slot."""
    layers = [
        TelemetryLayer(tracer_provider=spans.provider, logger=logs.logger),
        retry(delay=0.5),
        limiter("1/s"),
    ]
    async with sim_stack(layers, [Reply.status(503), Reply.fixture(GEMINI_OK)]) as stack:
        result = await stack.generate(PROMPT)

    (call_span,) = spans.named("generate_content gemini-2.5-flash-image")
    attempt2 = max(spans.named("genguard.attempt"), key=lambda s: s.attributes["genguard.attempt"])
    trace_id = format(call_span.context.trace_id, "032x")

    (line,) = logs.events("genguard.call")
    assert line["level"] == "info"
    assert line["generation_id"] == result.generation_id
    assert line["trace_id"] == trace_id
    assert line["span_id"] == format(call_span.context.span_id, "016x")
    assert line["outcome"] == "success"
    assert line["attempts"] == 2
    assert line["duration_s"] == pytest.approx(1.0)  # 0.5 backoff + 0.5 permit wait
    assert line["images"] == 1
    assert line["input_tokens"] == INPUT_TOKENS
    assert line["prompt_sha256"] == prompt_digest(PROMPT)
    assert line["prompt_chars"] == len(PROMPT)
    assert "prompt" not in line

    (scheduled,) = logs.events("genguard.retry.scheduled")
    assert scheduled["reason"] == "ProviderUnavailable"
    assert scheduled["delay_s"] == 0.5
    assert scheduled["hint_source"] == "none"  # a bare 503
    assert scheduled["trace_id"] == trace_id
    assert scheduled["span_id"] == format(call_span.context.span_id, "016x")
    (wait,) = logs.events("genguard.limiter.waited")  # the first attempt did not wait
    assert wait["seconds"] == 0.5
    assert wait["span_id"] == format(attempt2.context.span_id, "016x")
    assert all(entry["generation_id"] == result.generation_id for entry in logs.lines())


async def test_blocked_call_logs_a_warning_and_prompts_are_opt_in(logs: Logs) -> None:
    rules = SafetyLayer(input=ClassifierChain([RulesClassifier({"violence": ["forbidden"]})]))
    async with sim_stack([TelemetryLayer(logger=logs.logger, log_prompts=True), rules]) as stack:
        with pytest.raises(ContentBlocked):
            await stack.generate("forbidden fruit")
    assert stack.sim.requests == 0
    verdict, notice, call = logs.lines()
    assert notice["event"] == "genguard.notice" and notice["notice"] == "safety_flagged"
    assert verdict["event"] == "genguard.safety.verdict"
    assert verdict["level"] == "warning"
    assert (verdict["stage"], verdict["category"], verdict["action"]) == (
        "input",
        "violence",
        "block",
    )
    assert call["event"] == "genguard.call"
    assert call["level"] == "warning"
    assert call["outcome"] == "blocked"
    assert call["error_type"] == "ContentBlocked"
    assert (call["stage"], call["category"], call["source"]) == ("input", "violence", "classifier")
    assert call["prompt"] == "forbidden fruit"  # opted in
    assert "trace_id" not in call  # no tracer configured: nothing to point at


async def test_logs_false_writes_nothing(logs: Logs) -> None:
    async with Client(FakeProvider(), [TelemetryLayer(logger=logs.logger, logs=False)]) as client:
        await client.generate("a prompt")
    assert logs.text() == ""


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    reset_logging()


def test_configure_logging_json_with_trace_context(restore_structlog: None) -> None:
    buffer = io.StringIO()
    configure_logging(json=True, level="info", stream=buffer, cache=False)
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    log = get_logger(service="svc")
    with tracer.start_as_current_span("work") as span:
        log.info("inside", answer=42)
        log.debug("dropped")
    log.warning("outside")
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["event"] == "inside"
    assert first["answer"] == 42
    assert first["service"] == "svc"
    assert first["level"] == "info"
    assert first["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert first["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "timestamp" in first
    assert second["event"] == "outside"
    assert "trace_id" not in second


def test_configure_logging_console_and_bad_level(restore_structlog: None) -> None:
    buffer = io.StringIO()
    configure_logging(json=False, level="warning", stream=buffer, cache=False)
    get_logger().info("quiet")
    get_logger().warning("loud")
    text = buffer.getvalue()
    assert "loud" in text
    assert "quiet" not in text
    with pytest.raises(ValueError):
        configure_logging(level="chatty")
