"""Telemetry: OpenTelemetry traces and metrics, structlog lines, a Prometheus endpoint.

The layer is ``genguard.layers.telemetry.TelemetryLayer``; the Prometheus server
(extra ``genguard[prometheus]``) is ``genguard.telemetry.prometheus.start_metrics_server``,
imported from its module so the extra stays optional.
"""

from .logging import add_trace_context, configure_logging, get_logger, reset_logging
from .otel import OUTCOMES, CallTelemetry, Instruments, outcome_of

__all__ = [
    "OUTCOMES",
    "CallTelemetry",
    "Instruments",
    "add_trace_context",
    "configure_logging",
    "get_logger",
    "outcome_of",
    "reset_logging",
]
