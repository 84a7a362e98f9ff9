"""Logging the Python way: every genguard line goes through stdlib ``logging``.

genguard writes to the ``genguard`` logger (``logging.getLogger("genguard")``)
and nowhere else. A ``NullHandler`` sits on it (added on ``import genguard``), so
a library that nobody configured stays silent: no line on standard out or standard error, not even
warnings (stdlib's "last resort" handler never fires). ``logging.basicConfig``
or any handler the application adds decides what is shown and where.

Each record keeps its structured fields: ``record.genguard`` is a dict
(``generation_id``, ``outcome``, ``trace_id``...), ``record.genguard_event`` the
event name, and the message renders as ``event key=value ...`` for plain
formatters. ``configure_logging`` is the one-line set-up for applications that
want JSON lines: a handler on the ``genguard`` logger whose formatter is
structlog's stdlib ``ProcessorFormatter`` (structlog as a front end of stdlib
logging, never configured process-wide). Applications that already render with
``ProcessorFormatter`` add :func:`genguard_fields` to their ``foreign_pre_chain``.
"""

from __future__ import annotations

import logging as std_logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace

LOGGER_NAME = "genguard"
#: The LogRecord attributes genguard sets: the fields and the event name.
FIELDS_ATTR = "genguard"
EVENT_ATTR = "genguard_event"


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


class _Message:
    """``event key=value ...``, rendered only if a handler formats the record."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: Mapping[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        pairs = " ".join(f"{key}={value}" for key, value in self.fields.items())
        return f"{self.event} {pairs}" if pairs else self.event


class StdlibLogger:
    """genguard's logger: structured fields on stdlib ``LogRecord``s.

    A disabled level costs one ``isEnabledFor`` check (cached by stdlib).
    ``bind`` returns a logger that adds ``fields`` to every line.
    """

    __slots__ = ("_context", "_logger")

    def __init__(
        self, logger: std_logging.Logger | None = None, context: Mapping[str, Any] | None = None
    ) -> None:
        self._logger = logger if logger is not None else std_logging.getLogger(LOGGER_NAME)
        self._context: dict[str, Any] = dict(context or {})

    def is_enabled_for(self, level: int) -> bool:
        """Whether a line at ``level`` would reach a handler (so callers skip building it)."""
        return self._logger.isEnabledFor(level)

    def bind(self, **fields: Any) -> StdlibLogger:
        return StdlibLogger(self._logger, {**self._context, **fields})

    def _emit(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        merged = {**self._context, **fields}
        add_trace_context(None, "", merged)
        self._logger.log(
            level,
            "%s",
            _Message(event, merged),
            extra={FIELDS_ATTR: merged, EVENT_ATTR: event},
        )

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(std_logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(std_logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(std_logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(std_logging.ERROR, event, fields)

    def __repr__(self) -> str:
        return f"StdlibLogger({self._logger.name!r})"


def genguard_fields(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor for ``ProcessorFormatter``: a genguard record's event and fields.

    Puts the event name in ``event`` and its fields beside it, so a JSON line
    carries ``generation_id``, ``outcome``... as top-level keys.
    """
    record = event_dict.get("_record")
    fields = getattr(record, FIELDS_ATTR, None)
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            event_dict.setdefault(key, value)
        event_dict["event"] = getattr(record, EVENT_ATTR, event_dict.get("event"))
    return event_dict


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = std_logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


class _GenguardHandler(std_logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs (and replaces when called again)."""


def configure_logging(
    json: bool = True,
    *,
    level: int | str = "info",
    stream: TextIO | None = None,
    cache: bool = True,
) -> std_logging.Handler:
    """Show genguard's lines: a handler on the ``genguard`` logger, JSON or console.

    ``json`` picks JSON lines (what log pipelines ingest) or a console
    renderer. ``level`` is set on the ``genguard`` logger, so lower levels cost
    one check. ``stream`` defaults to standard error so program output on
    standard out stays clean. Calling it again replaces the handler it added.
    The ``genguard`` logger stops propagating to the root logger, so a root
    handler does not print each line a second time. ``cache`` is accepted for
    compatibility (stdlib caches level checks itself). Returns the handler.
    """
    del cache
    numeric = _level(level)
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[
            genguard_fields,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            add_trace_context,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
        ],
    )
    handler = _GenguardHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    logger = std_logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, _GenguardHandler)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(numeric)
    logger.propagate = False
    return handler


def reset_logging() -> None:
    """Undo ``configure_logging``: its handler removed, level and propagation restored."""
    logger = std_logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, _GenguardHandler)]:
        logger.removeHandler(old)
    logger.setLevel(std_logging.NOTSET)
    logger.propagate = True


def get_logger(**initial_values: Any) -> StdlibLogger:
    """genguard's logger (stdlib ``genguard``), bound to ``initial_values``."""
    return StdlibLogger(context=initial_values)


__all__ = [
    "EVENT_ATTR",
    "FIELDS_ATTR",
    "LOGGER_NAME",
    "StdlibLogger",
    "add_trace_context",
    "configure_logging",
    "genguard_fields",
    "get_logger",
    "reset_logging",
]
