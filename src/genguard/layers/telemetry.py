"""Telemetry: the outermost layer opens the call span and records every layer's events.

For the duration of a call it replaces ``call.observer`` with a ``CallTelemetry``
that forwards each event to the observer it replaced and also records it as a
span, span event, metric and log line; the original observer is restored in
``finally``, cancellation included. Layers go on reporting to ``call.observer``
and never import OpenTelemetry or structlog.

Providers are passed in because OpenTelemetry's global providers can be set only
once per process. Left as None, the global ones are used, looked up per call
(through the API's public getters) until an SDK is installed: while the globals
are no-ops (no SDK configured), no span or instrument is touched and the layer
costs a few microseconds per call.
"""

from __future__ import annotations

import logging as std_logging
from typing import TYPE_CHECKING, Any, ClassVar, cast

from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider
from pydantic import Field

from ..core import Handler, Scope
from ..model import Call, GenerationResult
from ..options import LayerOptions
from ..telemetry.logging import get_logger
from ..telemetry.options import DEFAULT_SERVICE_NAME
from ..telemetry.otel import CallTelemetry, Instruments, LabelCache, Logger, level_check

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

    from ..telemetry.prometheus import MetricsServer

INSTRUMENTATION_NAME = "genguard"


def _version() -> str:
    """The installed genguard's version (read from its metadata: a layer imports no facade)."""
    from importlib.metadata import version

    return version("genguard")


def _is_noop_tracer_provider(provider: object) -> bool:
    return isinstance(provider, NoOpTracerProvider | ProxyTracerProvider)


def _is_noop_meter_provider(provider: object) -> bool:
    """No SDK behind ``provider``: the API's no-op, or its stand-in used until a global SDK
    provider is set. The API exports no class for that stand-in, so it is told apart by
    the public surface every SDK provider has and the stand-in lacks: ``force_flush``."""
    return isinstance(provider, NoOpMeterProvider) or not callable(
        getattr(provider, "force_flush", None)
    )


class TelemetryOptions(LayerOptions):
    layer_name: ClassVar[str] = "telemetry"
    doc: ClassVar[str] = "Spans, metrics and logs for every call. Put it first (outermost)."

    log_prompts: bool = Field(False, description="Record prompt text; off to keep PII out.")


class TelemetryLayer:
    """OpenTelemetry traces and metrics plus structlog lines for every call (scope ``call``).

    ``tracer_provider``/``meter_provider``: where spans and metrics go (None: the
    global providers; a ``MetricsServer`` stands for the provider it serves).
    ``logger``: a structlog logger (None: ``structlog.get_logger("genguard")``,
    bound to ``service``). ``log_prompts`` adds the prompt text to
    the per-call log line (never to spans or metrics). ``service_name`` is bound to
    every log line. ``logs=False`` turns log lines off.
    """

    options_model: ClassVar[type[TelemetryOptions]] = TelemetryOptions

    scope: Scope = "call"
    #: Only records, never waits: the client runs it outside the deadline guard so the
    #: span shows ``DeadlineExceeded`` rather than a cancellation.
    outside_deadline = True

    def __init__(
        self,
        options: TelemetryOptions | None = None,
        /,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | MetricsServer | None = None,
        logger: Logger | None = None,
        service_name: str = DEFAULT_SERVICE_NAME,
        logs: bool = True,
        **fields: Any,
    ) -> None:
        self.options = options = TelemetryOptions.of(options, fields, "telemetry")
        log_prompts = options.log_prompts
        if meter_provider is not None and not hasattr(meter_provider, "get_meter"):
            # a MetricsServer from start_metrics_server(): use the provider it serves
            meter_provider = cast("MeterProvider", meter_provider.meter_provider)
        self.service_name = service_name
        self.log_prompts = log_prompts
        self._tracer_provider = tracer_provider
        self._meter_provider = cast("MeterProvider | None", meter_provider)
        self._tracer: Tracer | None = None
        self._instruments: Instruments | None = None
        # Resolved for good: an explicit provider never changes; a real global is set once.
        self._tracer_final = False
        self._meter_final = False
        self._log: Logger | None = None
        if logs:
            self._log = logger if logger is not None else get_logger(service=service_name)
        #: The logger's level check, when it has one: a call with every signal off but
        #: logs, whose logger keeps no line at any level genguard uses, records nothing.
        self._log_enabled = level_check(self._log) if self._log is not None else None
        self._labels = LabelCache()
        if tracer_provider is None:
            trace.get_tracer_provider()  # loads a provider named in OTEL_PYTHON_TRACER_PROVIDER
        if meter_provider is None:
            metrics.get_meter_provider()
        self._resolve_tracer()
        self._resolve_instruments()

    def _resolve_tracer(self) -> Tracer | None:
        provider = self._tracer_provider
        if provider is None:
            found = trace.get_tracer_provider()
            if _is_noop_tracer_provider(found):
                return None  # look again next call: the application may install an SDK later
            provider = found
        elif _is_noop_tracer_provider(provider):
            self._tracer_final = True
            return None
        self._tracer = provider.get_tracer(INSTRUMENTATION_NAME, _version())
        self._tracer_final = True
        return self._tracer

    def _resolve_instruments(self) -> Instruments | None:
        provider = self._meter_provider
        if provider is None:
            found = metrics.get_meter_provider()
            if _is_noop_meter_provider(found):
                return None
            provider = found
        elif _is_noop_meter_provider(provider):
            self._meter_final = True
            return None
        self._instruments = Instruments.for_provider(provider, _version())
        self._meter_final = True
        return self._instruments

    @property
    def enabled(self) -> bool:
        """Whether any signal is on right now (an SDK provider found, or logs)."""
        tracer = self._tracer if self._tracer_final else self._resolve_tracer()
        instruments = self._instruments if self._meter_final else self._resolve_instruments()
        return tracer is not None or instruments is not None or self._log is not None

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        tracer = self._tracer if self._tracer_final else self._resolve_tracer()
        instruments = self._instruments if self._meter_final else self._resolve_instruments()
        log = self._log
        if tracer is None and instruments is None:
            enabled = self._log_enabled
            if log is None or (enabled is not None and not enabled(std_logging.ERROR)):
                return await next(call)
        previous = call.observer
        recorder = CallTelemetry(
            call,
            previous,
            tracer,
            instruments,
            log,
            self.log_prompts,
            labels=self._labels.get(call.provider, call.model),
            log_check=self._log_enabled,
        )
        recorder.start()
        call.observer = recorder
        result: GenerationResult | None = None
        error: BaseException | None = None
        try:
            result = await next(call)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            call.observer = previous
            recorder.finish(result, error)
            error = None  # break the frame <-> traceback cycle

    def __repr__(self) -> str:
        return (
            f"TelemetryLayer(service_name={self.service_name!r}, "
            f"log_prompts={self.log_prompts}, logs={self._log is not None})"
        )


__all__ = ["INSTRUMENTATION_NAME", "TelemetryLayer", "TelemetryOptions"]
