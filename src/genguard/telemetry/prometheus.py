"""Serve genguard's OpenTelemetry metrics for Prometheus to scrape (extra ``genguard[prometheus]``).

Config: ``telemetry: {prometheus: {port: 9464}}``; CLI: ``genguard demo --metrics-port``.
The server gets its own ``CollectorRegistry`` so that two servers (or a test and
the application) in one process never expose each other's series, and it runs on
prometheus_client's daemon thread: scrapes never touch the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..state.resource import AsyncResource
from .options import DEFAULT_HOST, DEFAULT_SERVICE_NAME

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry

DEFAULT_PORT = 9464


@dataclass
class MetricsServer(AsyncResource):
    """A running ``/metrics`` endpoint. ``meter_provider`` is what to hand to ``TelemetryLayer``."""

    port: int
    host: str
    meter_provider: MeterProvider
    registry: CollectorRegistry
    _server: Any = field(repr=False, default=None)
    _thread: Any = field(repr=False, default=None)
    _owns_provider: bool = field(repr=False, default=True)
    _closed: bool = field(repr=False, default=False)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving; shut down the meter provider if this server created it. Idempotent.

        Blocks for up to half a second (the server thread's poll interval): from async
        code use ``aclose``.
        """
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owns_provider:
            self.meter_provider.shutdown()

    async def aclose(self) -> None:
        """``close`` on a worker thread, so the event loop keeps running meanwhile."""
        await asyncio.to_thread(self.close)


def start_metrics_server(
    port: int = DEFAULT_PORT,
    meter_provider: MeterProvider | None = None,
    *,
    host: str = DEFAULT_HOST,
    service_name: str = DEFAULT_SERVICE_NAME,
) -> MetricsServer:
    """Start serving metrics on ``host:port`` (``port=0`` picks a free port).

    ``host`` defaults to loopback, so metrics are not exposed by accident; bind
    ``0.0.0.0`` for a Prometheus on another host or outside the container.

    Without ``meter_provider`` a new SDK ``MeterProvider`` with a Prometheus reader
    is created (resource ``service.name=service_name``) and returned on the server:
    pass it to ``TelemetryLayer(meter_provider=...)``. An SDK meter provider cannot
    gain a reader after it is built, so a provider passed in must already carry a
    ``PrometheusMetricReader`` registered in prometheus_client's default registry
    (its default); that registry is then served.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError("telemetry.prometheus.port", f"must be an integer 0-65535, got {port!r}")
    try:
        import prometheus_client
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "telemetry.prometheus",
            "needs the prometheus extra: pip install 'genguard[prometheus]'",
        ) from exc
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    owns = meter_provider is None
    if meter_provider is None:
        registry = prometheus_client.CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(registry=registry)
        meter_provider = SdkMeterProvider(
            metric_readers=[reader], resource=Resource.create({SERVICE_NAME: service_name})
        )
    else:
        registry = prometheus_client.REGISTRY
    try:
        server, thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if owns:
            meter_provider.shutdown()
        raise ConfigError(
            "telemetry.prometheus.port", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    return MetricsServer(
        port=server.server_port,
        host=host,
        meter_provider=meter_provider,
        registry=registry,
        _server=server,
        _thread=thread,
        _owns_provider=owns,
    )


__all__ = ["DEFAULT_PORT", "MetricsServer", "start_metrics_server"]
