"""Per-call cost of the telemetry layer, with an in-process provider (no network).

Cases, each a ``Client`` around ``StaticProvider`` (answers at once):

- ``baseline``: no telemetry layer.
- ``off``: ``TelemetryLayer`` with no-op tracer and meter providers passed in, logs off.
- ``off_global``: ``TelemetryLayer()`` with logs off, on OpenTelemetry's global providers:
  measured only while no SDK is installed globally (the process default).
- ``sdk_no_exporter``: SDK tracer and meter providers with no processor or reader.
- ``sdk_batch_exporter``: SDK with ``BatchSpanProcessor`` and a periodic metric reader,
  both exporting to a discarding exporter (the export work, minus the network).
- ``sdk_batch_exporter_json_logs``: the same plus one structlog JSON line per call.
- ``sdk_batch_exporter_default_logs``: the batch case with logs left on (the default) and
  the stdlib ``genguard`` logger unconfigured, so the per-call info line is filtered out.
- ``sdk_traces_only`` / ``sdk_metrics_only``: the batch case with one signal's provider
  a no-op, to split the SDK's cost between spans and metric records.

``run(quick)`` returns the per-call times and the overhead of each case over
``baseline`` in microseconds (best of several rounds: the least-disturbed run).
Run directly for a table: ``python benchmarks/telemetry_overhead.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider

from genguard import Client, GenerationRequest
from genguard.layers.telemetry import TelemetryLayer
from genguard.pipeline import Layer
from genguard.providers.static import StaticProvider


class _NullSpanExporter(SpanExporter):
    """Accepts batches and drops them: measures the SDK's export path without a network."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class _NullMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})
        self.exports = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exports += 1
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _json_logger() -> Any:
    """A production-shaped JSON structlog logger writing to memory (no terminal cost)."""
    return structlog.wrap_logger(
        structlog.WriteLogger(io.StringIO()),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )


Case = Callable[[], tuple[list[Layer], Callable[[], None]]]


def _baseline() -> tuple[list[Layer], Callable[[], None]]:
    return [], lambda: None


def _off() -> tuple[list[Layer], Callable[[], None]]:
    layer = TelemetryLayer(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), logs=False
    )
    return [layer], lambda: None


def _off_global() -> tuple[list[Layer], Callable[[], None]]:
    """The default: providers left to OpenTelemetry's globals, which nobody configured."""
    return [TelemetryLayer(logs=False)], lambda: None


def _sdk_no_exporter() -> tuple[list[Layer], Callable[[], None]]:
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider()
    layer = TelemetryLayer(
        tracer_provider=tracer_provider, meter_provider=meter_provider, logs=False
    )

    def close() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return [layer], close


def _sdk_batch(
    logs: bool, traces: bool = True, metrics: bool = True, default_logger: bool = False
) -> Case:
    def build() -> tuple[list[Layer], Callable[[], None]]:
        tracer_provider = TracerProvider()
        # A queue deep enough that no span is dropped in this tight loop (a dropped span
        # would be work not measured); a short delay so the exporter thread keeps up.
        tracer_provider.add_span_processor(
            BatchSpanProcessor(
                _NullSpanExporter(), max_queue_size=65_536, schedule_delay_millis=100
            )
        )
        reader = PeriodicExportingMetricReader(_NullMetricExporter(), export_interval_millis=1000)
        meter_provider = MeterProvider(metric_readers=[reader])
        layer = TelemetryLayer(
            tracer_provider=tracer_provider if traces else NoOpTracerProvider(),
            meter_provider=meter_provider if metrics else NoOpMeterProvider(),
            logger=_json_logger() if logs and not default_logger else None,
            logs=logs,
        )

        def close() -> None:
            tracer_provider.shutdown()
            meter_provider.shutdown()

        return [layer], close

    return build


CASES: dict[str, Case] = {
    "baseline": _baseline,
    "off": _off,
    "off_global": _off_global,
    "sdk_no_exporter": _sdk_no_exporter,
    "sdk_batch_exporter": _sdk_batch(logs=False),
    "sdk_batch_exporter_json_logs": _sdk_batch(logs=True),
    "sdk_batch_exporter_default_logs": _sdk_batch(logs=True, default_logger=True),
    "sdk_traces_only": _sdk_batch(logs=False, metrics=False),
    "sdk_metrics_only": _sdk_batch(logs=False, traces=False),
}


async def _timed(client: Client, request: GenerationRequest, calls: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        await client.generate(request)
    return (time.perf_counter() - start) / calls


async def _run(quick: bool) -> dict[str, Any]:
    """Rounds interleave the cases (A B C, A B C, ...) so that load from other processes
    falls on every case alike; each case keeps its best round."""
    calls, rounds = (1_000, 5) if quick else (5_000, 15)
    globals_unset = isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    request = GenerationRequest(prompt="a lighthouse at dusk")
    clients: dict[str, Client] = {}
    closers: list[Callable[[], None]] = []
    for name, case in CASES.items():
        if name == "off_global" and not globals_unset:
            continue  # someone installed a global SDK: this would measure that instead
        layers, close = case()
        closers.append(close)
        provider = StaticProvider(name="gemini", model="gemini-2.5-flash-image")
        clients[name] = Client(provider, layers)
    best = dict.fromkeys(clients, float("inf"))
    try:
        for client in clients.values():  # warm-up: caches, lazy instruments, code paths
            await _timed(client, request, min(500, calls))
        for _ in range(rounds):
            for name, client in clients.items():
                best[name] = min(best[name], await _timed(client, request, calls))
    finally:
        for client in clients.values():
            await client.aclose()
        for close in closers:
            close()
    base = best["baseline"]
    return {
        "benchmark": "telemetry_overhead",
        "unit": "us/call",
        "calls_per_round": calls,
        "rounds": rounds,
        "per_call_us": {name: round(value * 1e6, 2) for name, value in best.items()},
        "overhead_us": {
            name: round((value - base) * 1e6, 2)
            for name, value in best.items()
            if name != "baseline"
        },
        "python": sys.version.split()[0],
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Measure every case; ``quick`` runs fewer calls (for CI smoke runs)."""
    return asyncio.run(_run(quick))


def main(argv: Sequence[str] = ()) -> None:
    result = run(quick="--quick" in argv)
    print(
        f"telemetry overhead ({result['calls_per_round']} calls x {result['rounds']} rounds, best)"
    )
    print(f"{'case':32} {'us/call':>10} {'overhead':>10}")
    for name, value in result["per_call_us"].items():
        extra = result["overhead_us"].get(name)
        shown = "-" if extra is None else f"{extra:+.1f}"
        print(f"{name:32} {value:10.1f} {shown:>10}")


if __name__ == "__main__":
    main(sys.argv[1:])
