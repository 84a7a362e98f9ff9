"""structlog set-up: one JSON object per line, carrying the trace it belongs to.

genguard logs through ``structlog.get_logger("genguard")`` and never configures
structlog on import (the application owns logging). ``configure_logging`` is the
one-line set-up for applications that have none: JSON lines (or a console
renderer for humans), a level filter that makes filtered calls free, and a
processor that stamps ``trace_id``/``span_id`` of the current OpenTelemetry span
so a log line leads to its trace. The synchronous methods are used on purpose:
structlog's async ``ainfo`` hops to a thread and costs ~10x more per line.
"""

from __future__ import annotations

import logging as std_logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: add ``trace_id``/``span_id`` of the current span, if any."""
    if "trace_id" not in event_dict:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
            event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = std_logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def configure_logging(
    json: bool = True,
    *,
    level: int | str = "info",
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """Configure structlog process-wide for genguard's events.

    ``json`` picks JSON lines (default: what log pipelines ingest) or a coloured
    console renderer. ``level`` drops lower levels at no cost. ``stream``
    defaults to standard error so that program output on standard out stays
    clean. ``cache`` keeps the configured logger after first use (fast; call this
    before the first log line). Prompts and images are never passed to the logger
    by genguard, so no redaction processor is needed here.
    """
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_trace_context,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level(level)),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=cache,
    )


def get_logger(**initial_values: Any) -> Any:
    """genguard's logger: structlog's, bound to ``initial_values``."""
    return structlog.get_logger("genguard", **initial_values)


__all__ = ["add_trace_context", "configure_logging", "get_logger"]
