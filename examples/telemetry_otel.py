"""Traces, metrics and JSON logs for a resilient stack, on the simulator (no API key).

Sets up the OpenTelemetry SDK in-process (spans kept in memory, metrics served for
Prometheus), JSON logs on standard error, and runs the default stack against the
simulator's ``flaky`` profile (seeded 503s and 429s with retry hints). Then it prints
the span tree of a call that needed retries and a few lines of the /metrics page.

    python examples/telemetry_otel.py                    # metrics on a free port
    python examples/telemetry_otel.py --metrics-port 9464 --keep 60
    #   ... and point Prometheus at 127.0.0.1:9464, import docs/dashboards/genguard.json

In an application, export spans with an OTLP exporter instead of the in-memory one
(``opentelemetry-exporter-otlp``: ``BatchSpanProcessor(OTLPSpanExporter())``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genguard import Client, GenGuardError
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.safety.chain import ClassifierChain
from genguard.safety.rules import RulesClassifier
from genguard.sim import Simulator
from genguard.telemetry import configure_logging
from genguard.telemetry.prometheus import start_metrics_server


def print_tree(spans: list[ReadableSpan], root: ReadableSpan) -> None:
    """The call span, its attempt spans and every span event, indented."""

    def show(span: ReadableSpan, depth: int) -> None:
        attrs = span.attributes or {}
        took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        error = f"  error.type={attrs['error.type']!s}" if "error.type" in attrs else ""
        print(f"{'  ' * depth}{span.name}  ({took:.1f} ms){error}")
        for event in span.events:
            fields = ", ".join(
                f"{k.rsplit('.', 1)[-1]}={round(v, 3) if isinstance(v, float) else v}"
                for k, v in (event.attributes or {}).items()
                if k != "exception.stacktrace"
            )
            print(f"{'  ' * (depth + 1)}* {event.name}: {fields}")
        children = [s for s in spans if s.parent and s.parent.span_id == span.context.span_id]
        for child in sorted(children, key=lambda s: s.start_time or 0):
            show(child, depth + 1)

    show(root, 0)


async def main(metrics_port: int, keep: float) -> None:
    configure_logging(json=True, level="info")  # JSON lines on standard error
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "telemetry-example"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = start_metrics_server(metrics_port, host="127.0.0.1", service_name="telemetry-example")
    print(f"metrics: {metrics.url}", file=sys.stderr)

    async with Simulator("flaky", failure_rate=0.4, max_hint=0.3, seed=11) as sim:
        client = Client(
            GeminiProvider("sim-key", base_url=sim.base_url),
            layers=[
                TelemetryLayer(
                    tracer_provider=tracer_provider,
                    meter_provider=metrics.meter_provider,
                    service_name="telemetry-example",
                ),
                SafetyLayer(input=ClassifierChain([RulesClassifier()])),
                RetryLayer(attempts=4, initial=0.05, max_delay=0.5),
                CircuitBreakerLayer(fail_max=5, reset_timeout=2.0),
                RateLimitLayer(requests="10/s", concurrency=4),
                TimeoutLayer(10.0),
            ],
            deadline=20.0,
        )
        async with client:
            prompts = [f"a lighthouse at dusk, study {i}" for i in range(12)]
            prompts.append("a gruesome massacre scene")  # blocked by the rules classifier
            results = await asyncio.gather(
                *(client.generate(p) for p in prompts), return_exceptions=True
            )

    failures = [r for r in results if isinstance(r, BaseException)]
    print(f"\n{len(results) - len(failures)} calls succeeded, {len(failures)} failed:", end=" ")
    print(", ".join(sorted({type(f).__name__ for f in failures})) or "-")
    unexpected = [f for f in failures if not isinstance(f, GenGuardError)]
    if unexpected:
        raise unexpected[0]

    spans = list(exporter.get_finished_spans())
    calls = [s for s in spans if s.parent is None]
    retried = max(calls, key=lambda s: int(str((s.attributes or {}).get("genguard.attempts", 0))))
    print("\nthe call with the most attempts:")
    print_tree(spans, retried)

    async with aiohttp.ClientSession() as session, session.get(metrics.url) as response:
        page = await response.text()
    wanted = ("genguard_calls_total{", "genguard_retries_total{", "genguard_safety_blocks_total{")
    print("\nfrom /metrics:")
    for line in page.splitlines():
        if line.startswith(wanted):
            print(" ", line)

    if keep > 0:
        print(f"\nserving metrics for {keep:g} s more (Ctrl-C to stop)", file=sys.stderr)
        await asyncio.sleep(keep)
    await metrics.aclose()
    tracer_provider.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--keep", type=float, default=0, help="seconds to keep serving metrics")
    args = parser.parse_args()
    asyncio.run(main(args.metrics_port, args.keep))
