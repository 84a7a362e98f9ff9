"""Telemetry test support: in-memory span exporter, in-memory metric reader, JSON log capture,
an in-process provider and hand-written layers that emit the events the real layers emit."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genguard import Call, GenerationResult, Image, Usage
from genguard.pipeline import Handler, Scope
from genguard.providers.transport import HttpTransport

PNG = b"\x89PNG\r\n\x1a\n" + b"IMAGEBYTES-0123456789" * 4


class Spans:
    """A tracer provider exporting synchronously to memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]


class Metrics:
    """A meter provider read on demand: ``points(name)`` gives (attributes, point) pairs."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self._data: Any = None

    def collect(self) -> None:
        self._data = self.reader.get_metrics_data()

    def metrics(self) -> dict[str, Any]:
        if self._data is None:
            self.collect()
        out: dict[str, Any] = {}
        for rm in self._data.resource_metrics if self._data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = metric
        return out

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        metric = self.metrics().get(name)
        if metric is None:
            return []
        return [(dict(p.attributes or {}), p) for p in metric.data.data_points]

    def value(self, name: str, **match: Any) -> float:
        """Sum of counter/gauge values whose attributes include ``match`` (dots as ``__``)."""
        want = {k.replace("__", "."): v for k, v in match.items()}
        return sum(
            p.value
            for attrs, p in self.points(name)
            if all(attrs.get(k) == v for k, v in want.items())
        )


class Logs:
    """A structlog logger rendering JSON lines into a buffer, like production."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.logger = structlog.wrap_logger(
            structlog.WriteLogger(self.buffer),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(0),
        )

    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == name]


# -- in-process provider and hand-written layers ---------------------------------------------


@dataclass
class FakeProvider:
    """Plays ``outcomes`` (an exception to raise, or None for an image) one per attempt."""

    outcomes: Sequence[BaseException | None] = (None,)
    name: str = "gemini"
    model: str = "gemini-2.5-flash-image"
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=12, output_tokens=1290))
    sent: int = 0

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        index = min(self.sent, len(self.outcomes) - 1)
        self.sent += 1
        outcome = self.outcomes[index]
        if outcome is not None:
            raise outcome
        return GenerationResult(
            images=(Image(PNG),),
            generation_id=call.generation_id,
            provider=self.name,
            model=call.model,
            usage=self.usage,
            finish_reason="STOP",
            request_id="resp-42",
        )


class SimpleRetry:
    """Retries every retryable error ``attempts`` times, reporting like the real retry layer."""

    scope: Scope = "call"

    def __init__(self, attempts: int = 3, delay: float = 0.5, hint: str | None = "retry-after"):
        self.attempts = attempts
        self.delay = delay
        self.hint = hint

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        observer = call.observer
        for attempt in range(1, self.attempts + 1):
            try:
                return await next(call)
            except Exception as error:
                if attempt == self.attempts or not getattr(error, "retryable", False):
                    if attempt == self.attempts:
                        observer.retry_gave_up(call, "attempts")
                    raise
                observer.retry_scheduled(call, self.delay, type(error).__name__, self.hint)
                await call.clock.sleep(self.delay)
        raise AssertionError("unreachable")


class SimpleLimiter:
    """Waits ``wait`` seconds for a permit on the first attempt only, and reports it."""

    scope: Scope = "attempt"

    def __init__(self, wait: float = 0.25) -> None:
        self.wait = wait

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        seconds = self.wait if call.attempt == 1 else 0.0
        if seconds:
            await call.clock.sleep(seconds)
        call.observer.limiter_waited(call, call.key, seconds, "rate")
        return await next(call)


class InputBlocker:
    """A safety layer that blocks prompts containing ``word``, reporting a verdict first."""

    scope: Scope = "call"

    def __init__(self, word: str = "forbidden") -> None:
        self.word = word

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        from genguard.errors import ContentBlocked

        blocked = self.word in call.request.prompt
        call.observer.safety_verdict(
            call,
            "input",
            not blocked,
            {"violence": 0.91 if blocked else 0.01, "hate": 0.2 if blocked else 0.0},
            "rules",
            "block" if blocked else "allow",
        )
        if blocked:
            raise ContentBlocked(
                "input blocked by rules classifier",
                stage="input",
                category="violence",
                source="classifier",
                reason="rule",
            )
        return await next(call)


class BreakerReporter:
    """Reports one breaker transition per attempt outcome, like the breaker layer would."""

    scope: Scope = "attempt"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            return await next(call)
        except Exception:
            call.observer.breaker_changed(call, call.key, "closed", "open", "failures")
            raise
