"""Telemetry test support: in-memory span exporter, in-memory metric reader, JSON log capture,
the real retry, rate-limit and breaker layers in front of the simulator on fake time, and an
in-process provider for tests of the telemetry layer alone."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genguard import Call, Client, FakeClock, GenerationRequest, GenerationResult, Image, Usage
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.transport import HttpTransport
from genguard.sim import Reply, Simulator
from support import drive

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
#: The reference Gemini success, served verbatim: its id, usage and text are what the
#: telemetry reports.
GEMINI_OK = FIXTURES / "gemini_200_image.json"
RESPONSE_ID = "q3RkaaBcD4eQ1MkP0LmV4Ao"
INPUT_TOKENS = 14
OUTPUT_TOKENS = 1302

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


# -- the real layers, over HTTP to the simulator, on fake time --------------------------------


def retry(attempts: int = 3, delay: float = 0.5) -> RetryLayer:
    """The real retry layer with a fixed ``delay`` between attempts (no jitter)."""
    return RetryLayer(
        attempts=attempts, initial=delay, multiplier=1.0, max_delay=delay, jitter="none"
    )


def limiter(requests: str = "1/s") -> RateLimitLayer:
    """The real rate limiter: attempts spaced ``1/rate`` apart, the first at once."""
    return RateLimitLayer(requests=requests)


def breaker(fail_max: int = 2) -> CircuitBreakerLayer:
    """The real breaker, tripping after ``fail_max`` consecutive failures."""
    return CircuitBreakerLayer(fail_max=fail_max, reset_timeout=30)


#: A 503, then a 429 asking for 0.5 s, then the reference success.
RETRIED_TWICE = (Reply.status(503), Reply.status(429, retry_after="0.5"), Reply.fixture(GEMINI_OK))


class SimStack:
    """A client with ``layers`` in front of a Gemini provider at the simulator, on one
    ``FakeClock(auto=False)`` that moves only while every caller sleeps on it."""

    def __init__(self, client: Client, sim: Simulator, clock: FakeClock) -> None:
        self.client = client
        self.sim = sim
        self.clock = clock

    async def generate(self, request: GenerationRequest | str) -> GenerationResult:
        """One call, driven on fake time; its error is raised as the client raised it."""
        (outcome,) = await drive(self.clock, [self.client.generate(request)], stop_at=600.0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@asynccontextmanager
async def sim_stack(
    layers: Sequence[Layer], replies: Sequence[Reply] = (), **client: Any
) -> AsyncIterator[SimStack]:
    """``SimStack`` whose simulator answers with ``replies`` first (then successes)."""
    clock = FakeClock(start=0.0, auto=False)
    async with Simulator(clock=clock) as sim:
        sim.script("gemini", replies)
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, list(layers), clock=clock, **client) as gen:
            yield SimStack(gen, sim, clock)


# -- an in-process provider, for tests of the telemetry layer alone ----------------------------


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
