"""The profile's ``telemetry:`` section: the exporters for what the telemetry layer records."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ..options import Int, Options

#: OpenTelemetry service name when none is given (the layer and the exporters).
DEFAULT_SERVICE_NAME = "genguard"
#: Address the metrics endpoint binds unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"


class PrometheusOptions(Options):
    doc: ClassVar[str] = "Serve metrics for Prometheus to scrape."

    port: Int = Field(ge=0, le=65535, description="Port of the /metrics endpoint (0: any free).")
    host: str = Field(DEFAULT_HOST, description="Address to bind; 0.0.0.0 to expose.")


class LogsOptions(Options):
    doc: ClassVar[str] = "Structured logs."

    format: Literal["json", "console"] = Field("json", description="One JSON object per line.")
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Minimum level."
    )


class TelemetryExportOptions(Options):
    doc: ClassVar[str] = "Exporters for what the `telemetry` layer records."

    service_name: str = Field(
        DEFAULT_SERVICE_NAME, min_length=1, description="OpenTelemetry service name."
    )
    prometheus: PrometheusOptions | None = Field(None, description="Off unless set.")
    logs: LogsOptions | None = Field(
        None,
        description="A handler on the `genguard` logger (stdlib); unset leaves logging to the "
        "application.",
    )


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_SERVICE_NAME",
    "LogsOptions",
    "PrometheusOptions",
    "TelemetryExportOptions",
]
