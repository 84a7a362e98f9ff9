"""The layer's contract: forwards every event, restores the observer, propagates cancellation,
and does nothing costly while OpenTelemetry is unconfigured."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider, StatusCode
from telemetry_support import (
    GEMINI_OK,
    FakeProvider,
    Logs,
    Metrics,
    Spans,
    limiter,
    retry,
    sim_stack,
)

import genguard.errors as gerrors
from genguard import Call, Client, GenerationResult, RecordingObserver
from genguard.errors import ProviderUnavailable
from genguard.layers.telemetry import TelemetryLayer
from genguard.observe import Observer
from genguard.pipeline import Handler, Scope
from genguard.sim import Reply
from genguard.telemetry import OUTCOMES, outcome_of


class Probe:
    """Innermost call-scoped layer: remembers the call and the observer it saw."""

    scope: Scope = "call"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.observers: list[Observer] = []

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        self.calls.append(call)
        self.observers.append(call.observer)
        return await next(call)


def _layer(spans: Spans, metrics: Metrics, logs: Logs) -> TelemetryLayer:
    return TelemetryLayer(
        tracer_provider=spans.provider, meter_provider=metrics.provider, logger=logs.logger
    )


async def _events(layers: list[Any], replies: list[Reply]) -> list[tuple[str, dict[str, Any]]]:
    """What the observer saw of one call through ``layers`` to the simulator."""
    recorder = RecordingObserver()
    async with sim_stack(layers, replies, observer=recorder) as stack:
        with contextlib.suppress(ProviderUnavailable):
            await stack.generate("a prompt")
    return [
        (
            e.name,
            {k: v for k, v in e.fields.items() if k not in ("result", "error", "generation_id")},
        )
        for e in recorder.events
    ]


async def test_forwards_every_event_to_the_previous_observer(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    replies = [Reply.status(503), Reply.fixture(GEMINI_OK)]
    without = await _events([retry(), limiter()], replies)
    with_telemetry = await _events([_layer(spans, metrics, logs), retry(), limiter()], replies)
    assert with_telemetry == without
    names = [name for name, _ in without]
    assert names.count("attempt_started") == 2
    assert "retry_scheduled" in names and "limiter_waited" in names


@pytest.mark.parametrize("outcomes", [[None], [ProviderUnavailable("down", status=503)]])
async def test_observer_is_restored(
    spans: Spans, metrics: Metrics, logs: Logs, outcomes: list[BaseException | None]
) -> None:
    recorder = RecordingObserver()
    probe = Probe()
    async with Client(
        FakeProvider(outcomes=outcomes), [_layer(spans, metrics, logs), probe], observer=recorder
    ) as client:
        with contextlib.suppress(ProviderUnavailable):
            await client.generate("a prompt")
    assert probe.observers[0] is not recorder  # replaced during the call
    assert probe.calls[0].observer is recorder  # and put back after it


async def test_cancellation_propagates_at_once_and_closes_everything(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    started = asyncio.Event()
    recorder = RecordingObserver()
    probe = Probe()

    class Hanging(FakeProvider):
        async def send(self, call, transport):  # type: ignore[no-untyped-def]
            started.set()
            await asyncio.Event().wait()

    async with Client(
        Hanging(), [_layer(spans, metrics, logs), probe], observer=recorder
    ) as client:
        task = asyncio.create_task(client.generate("a prompt"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=1)

    assert probe.calls[0].observer is recorder
    (call_span,) = spans.named("generate_content gemini-2.5-flash-image")
    (attempt,) = spans.named("genguard.attempt")
    assert call_span.attributes["genguard.outcome"] == "cancelled"
    assert call_span.attributes["error.type"] == "cancelled"
    assert call_span.status.status_code is StatusCode.ERROR
    assert attempt.end_time is not None and attempt.attributes["error.type"] == "cancelled"
    assert metrics.value("genguard.calls.active") == 0
    assert metrics.value("genguard.calls", genguard__outcome="cancelled") == 1
    assert not trace.get_current_span().get_span_context().is_valid
    (line,) = logs.events("genguard.call")
    assert line["outcome"] == "cancelled"


async def test_no_op_providers_and_no_logs_take_the_fast_path() -> None:
    recorder = RecordingObserver()
    probe = Probe()
    layer = TelemetryLayer(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), logs=False
    )
    assert not layer.enabled
    async with Client(FakeProvider(), [layer, probe], observer=recorder) as client:
        await client.generate("a prompt")
    assert probe.observers == [recorder]  # nothing was installed


@pytest.fixture
def unset_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """OpenTelemetry's globals as in a process that configured no SDK (restored after)."""
    from opentelemetry.metrics import _internal as metrics_internal

    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", None)
    yield


async def test_global_sdk_installed_later_is_picked_up(unset_globals: None, spans: Spans) -> None:
    probe = Probe()
    recorder = RecordingObserver()
    layer = TelemetryLayer(logs=False)  # global providers, not configured yet
    async with Client(FakeProvider(), [layer, probe], observer=recorder) as client:
        await client.generate("a prompt")
        assert probe.observers == [recorder]
        assert spans.finished() == []
        trace._TRACER_PROVIDER = (
            spans.provider
        )  # what set_tracer_provider does, minus the once-only guard
        await client.generate("a prompt")
    assert probe.observers[1] is not recorder
    assert [s.name for s in spans.finished()] == [
        "genguard.attempt",
        "generate_content gemini-2.5-flash-image",
    ]


ERROR_CLASSES: list[type[BaseException]] = [
    cls
    for cls in vars(gerrors).values()
    if isinstance(cls, type) and issubclass(cls, gerrors.GenGuardError)
] + [ValueError, KeyError, RuntimeError, asyncio.CancelledError, TimeoutError]
exception_classes = st.sampled_from(ERROR_CLASSES)


#: Written from docs/observability.md ("Outcomes") and the error tree, not from the table
#: the labels come from: each concrete error class and the label a dashboard filters on.
EXPECTED_OUTCOME = {
    "GenGuardError": "error",
    "ContentBlocked": "blocked",
    "ClassifierUnavailable": "error",
    "RateLimited": "rate_limited",
    "QuotaExhausted": "quota_exhausted",
    "CircuitOpen": "circuit_open",
    "BulkheadFull": "bulkhead_full",
    "RetryBudgetExhausted": "retry_budget_exhausted",
    "StateUnavailable": "error",
    "DeadlineExceeded": "deadline_exceeded",
    "AttemptTimeout": "timeout",
    "ProviderError": "provider_error",
    "ProviderUnavailable": "unavailable",
    "BadRequest": "bad_request",
    "AuthenticationError": "auth_error",
    "NoImageGenerated": "provider_error",  # a 200 with no image and no block
    "InvalidRequest": "invalid_request",  # refused before sending
    "UnknownModel": "invalid_request",
    "ModelRetired": "invalid_request",
    "ResponseError": "response_error",
    "ConfigError": "config_error",
    "ConfigErrors": "config_error",
    "BudgetExceeded": "budget_exceeded",
    "PriceUnknown": "error",
    "ClientClosed": "error",
    "StreamError": "error",
    "StreamTimeout": "timeout",
    "IncompleteStream": "unavailable",
    "MalformedStreamEvent": "response_error",
    "CancelledError": "cancelled",
    "ValueError": "error",
    "KeyError": "error",
    "RuntimeError": "error",
    "TimeoutError": "error",
}
OBSERVABILITY = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def documented_outcomes() -> list[str]:
    """The labels docs/observability.md lists under "Outcomes"."""
    text = OBSERVABILITY.read_text().split("### Outcomes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`([a-z_]+)`", text.split("is one of:", 1)[1])


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_each_error_class_gets_its_documented_outcome(cls: type[BaseException]) -> None:
    # A new error class fails here until someone decides (and documents) its label.
    assert cls.__name__ in EXPECTED_OUTCOME, f"no expected outcome for {cls.__name__}"
    assert outcome_of(cls.__new__(cls)) == EXPECTED_OUTCOME[cls.__name__]


def test_the_label_set_is_the_documented_one() -> None:
    documented = documented_outcomes()
    assert sorted(OUTCOMES) == sorted(documented)
    assert set(EXPECTED_OUTCOME.values()) | {"success"} == set(documented)


@given(exception_classes)
def test_outcome_is_always_a_known_label(cls: type[BaseException]) -> None:
    error = cls.__new__(cls)
    assert outcome_of(error) in OUTCOMES
    assert outcome_of(None) == "success"
