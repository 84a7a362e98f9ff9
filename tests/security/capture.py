"""Everything a call can emit, captured so a test can search it for a key:
spans (attributes and events), metrics, structlog lines and stdlib log records."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genguard.layers.telemetry import TelemetryLayer


class Capture(logging.Handler):
    """A telemetry layer wired to in-memory exporters, plus a stdlib log handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        self.buffer = io.StringIO()
        logger = structlog.wrap_logger(
            structlog.WriteLogger(self.buffer),
            processors=[structlog.processors.JSONRenderer(default=repr)],
            wrapper_class=structlog.make_filtering_bound_logger(0),
        )
        self.layer = TelemetryLayer(
            tracer_provider=tracer_provider, meter_provider=meter_provider, logger=logger
        )
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())

    def __enter__(self) -> Capture:
        logging.getLogger("genguard").addHandler(self)
        logging.getLogger("genguard").setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("genguard").removeHandler(self)
        logging.getLogger("genguard").setLevel(logging.NOTSET)

    def text(self) -> str:
        """Every span name, attribute, event and status, metric point and log line as text."""
        out: list[str] = [self.buffer.getvalue(), *self.records]
        for span in self.spans.get_finished_spans():
            out.append(span.name)
            out.append(json.dumps(dict(span.attributes or {}), default=repr))
            out.append(str(span.status.description))
            for event in span.events:
                out.append(event.name + json.dumps(dict(event.attributes or {}), default=repr))
        data: Any = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        out.append(metric.name + json.dumps(dict(point.attributes or {})))
        return "\n".join(out)
