"""structlog lines: one per call and per notable event, each tied to its trace."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from telemetry_support import FakeProvider, InputBlocker, Logs, SimpleLimiter, SimpleRetry, Spans

from genguard import Client, FakeClock
from genguard.errors import ContentBlocked, ProviderUnavailable
from genguard.layers.telemetry import TelemetryLayer
from genguard.telemetry import configure_logging, get_logger, reset_logging
from genguard.telemetry.privacy import prompt_digest

PROMPT = "a lighthouse at dusk"


async def test_one_line_per_call_and_per_event_with_trace_ids(spans: Spans, logs: Logs) -> None:
    provider = FakeProvider(outcomes=[ProviderUnavailable("down", status=503), None])
    stack = [
        TelemetryLayer(tracer_provider=spans.provider, logger=logs.logger),
        SimpleRetry(delay=0.5),
        SimpleLimiter(wait=0.25),
    ]
    async with Client(provider, stack, clock=FakeClock()) as client:
        result = await client.generate(PROMPT)

    (call_span,) = spans.named("generate_content gemini-2.5-flash-image")
    attempt1 = min(spans.named("genguard.attempt"), key=lambda s: s.attributes["genguard.attempt"])
    trace_id = format(call_span.context.trace_id, "032x")

    (line,) = logs.events("genguard.call")
    assert line["level"] == "info"
    assert line["generation_id"] == result.generation_id
    assert line["trace_id"] == trace_id
    assert line["span_id"] == format(call_span.context.span_id, "016x")
    assert line["outcome"] == "success"
    assert line["attempts"] == 2
    assert line["duration_s"] == pytest.approx(0.75)  # 0.25 permit wait + 0.5 backoff
    assert line["images"] == 1
    assert line["input_tokens"] == 12
    assert line["prompt_sha256"] == prompt_digest(PROMPT)
    assert line["prompt_chars"] == len(PROMPT)
    assert "prompt" not in line

    (retry,) = logs.events("genguard.retry.scheduled")
    assert retry["reason"] == "ProviderUnavailable"
    assert retry["delay_s"] == 0.5
    assert retry["hint_source"] == "retry-after"
    assert retry["trace_id"] == trace_id
    assert retry["span_id"] == format(call_span.context.span_id, "016x")
    (wait,) = logs.events("genguard.limiter.waited")  # zero waits are metrics only
    assert wait["seconds"] == 0.25
    assert wait["span_id"] == format(attempt1.context.span_id, "016x")
    assert all(entry["generation_id"] == result.generation_id for entry in logs.lines())


async def test_blocked_call_logs_a_warning_and_prompts_are_opt_in(logs: Logs) -> None:
    stack = [TelemetryLayer(logger=logs.logger, log_prompts=True), InputBlocker()]
    async with Client(FakeProvider(), stack) as client:
        with pytest.raises(ContentBlocked):
            await client.generate("forbidden fruit")
    verdict, call = logs.lines()
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
