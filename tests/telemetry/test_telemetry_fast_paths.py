"""What the per-call work skips and shares: lines the logger filters out are not built,
labels are shared per (provider, model), and the fan-out observer keeps its functions."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from typing import Any

import structlog
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider
from telemetry_support import FakeProvider, Metrics, Spans

from genguard import Call, Client, GenerationResult, RecordingObserver
from genguard.errors import ProviderUnavailable
from genguard.layers.telemetry import TelemetryLayer
from genguard.observe import MultiObserver, Observer
from genguard.pipeline import Handler, Scope
from genguard.telemetry.logging import get_logger
from genguard.telemetry.otel import MAX_LABEL_SETS, LabelCache, level_check


class Probe:
    scope: Scope = "call"

    def __init__(self) -> None:
        self.observers: list[Observer] = []

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        self.observers.append(call.observer)
        return await next(call)


def _structlog(level: int) -> tuple[Any, io.StringIO]:
    """A bound filtering logger (what ``structlog.get_logger()`` gives once configured)."""
    buffer = io.StringIO()
    wrapper = structlog.make_filtering_bound_logger(level)
    logger = wrapper(
        structlog.WriteLogger(buffer),
        [structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        {},
    )
    return logger, buffer


def _no_sdk(logger: Any) -> TelemetryLayer:
    return TelemetryLayer(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), logger=logger
    )


async def test_a_logger_that_keeps_no_line_leaves_the_call_alone() -> None:
    logger, buffer = _structlog(logging.CRITICAL)
    probe = Probe()
    recorder = RecordingObserver()
    async with Client(
        FakeProvider(outcomes=[ProviderUnavailable("down")]),
        [_no_sdk(logger), probe],
        observer=recorder,
    ) as client:
        with contextlib.suppress(ProviderUnavailable):
            await client.generate("a prompt")
    assert probe.observers == [recorder]  # no recorder installed: nothing could be logged
    assert buffer.getvalue() == ""


async def test_info_filtered_out_keeps_the_warning_line() -> None:
    logger, buffer = _structlog(logging.WARNING)
    async with Client(
        FakeProvider(outcomes=[None, ProviderUnavailable("down")]), [_no_sdk(logger)]
    ) as client:
        await client.generate("a prompt")  # success: an info line, filtered out
        with contextlib.suppress(ProviderUnavailable):
            await client.generate("a prompt")  # failure: a warning line, kept
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(line["event"], line["level"], line["outcome"]) for line in lines] == [
        ("genguard.call", "warning", "unavailable")
    ]
    assert lines[0]["prompt_sha256"] and lines[0]["error_type"] == "ProviderUnavailable"


def test_level_check_trusts_only_a_loggers_own_answer() -> None:
    filtering, _ = _structlog(logging.WARNING)
    check = level_check(filtering)
    assert check is not None and not check(logging.INFO) and check(logging.WARNING)
    stdlib = get_logger()
    std_check = level_check(stdlib)
    assert std_check is not None
    assert std_check(logging.WARNING) == logging.getLogger("genguard").isEnabledFor(logging.WARNING)
    # a lazy proxy answers for a logger bound on the spot: not trusted
    assert level_check(structlog.get_logger()) is None
    assert level_check(object()) is None


def test_labels_are_shared_per_provider_and_model_and_bounded() -> None:
    cache = LabelCache()
    first = cache.get("gemini", "m1")
    assert cache.get("gemini", "m1") is first
    assert first.labels == ("generate_content", "gcp.gemini", "m1")
    assert first.with_outcome("success") == (*first.labels, "success")
    assert first.with_outcome("success") is first.with_outcome("success")
    assert first.with_error(ValueError("x"))["error.type"] == "ValueError"
    assert "error.type" not in first.attrs  # the shared dict is never changed
    for i in range(MAX_LABEL_SETS + 1):
        cache.get("openai", f"model-{i}")
    assert len(cache._found) <= MAX_LABEL_SETS


async def test_two_models_on_one_layer_keep_their_own_labels() -> None:
    spans, metrics = Spans(), Metrics()
    layer = TelemetryLayer(tracer_provider=spans.provider, meter_provider=metrics.provider)
    async with Client(FakeProvider(), [layer]) as client:
        await client.generate("a prompt")
        await client.generate("a prompt", model="other-model")
    models = sorted(attrs["gen_ai.request.model"] for attrs, _ in metrics.points("genguard.calls"))
    assert models == ["gemini-2.5-flash-image", "other-model"]
    names = sorted(s.name for s in spans.finished() if s.name != "genguard.attempt")
    assert names == ["generate_content gemini-2.5-flash-image", "generate_content other-model"]
    spans.provider.shutdown()
    metrics.provider.shutdown()


def test_multi_observer_fans_out_and_follows_a_new_list() -> None:
    a, b, c = RecordingObserver(), RecordingObserver(), RecordingObserver()
    multi = MultiObserver(a, b)
    multi.retry_gave_up(None, "attempts")  # type: ignore[arg-type]
    multi.retry_gave_up(None, "deadline")  # type: ignore[arg-type]
    assert (
        a.of("retry_gave_up")
        == b.of("retry_gave_up")
        == [
            {"reason": "attempts"},
            {"reason": "deadline"},
        ]
    )
    multi.observers = (c,)
    multi.retry_gave_up(None, "budget")  # type: ignore[arg-type]
    assert c.of("retry_gave_up") == [{"reason": "budget"}]
    assert len(a.of("retry_gave_up")) == 2
