"""The /metrics endpoint: what Prometheus will see, and how a bad port is reported."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import aiohttp
import pytest
from telemetry_support import FakeProvider, Logs

from genguard import Client
from genguard.errors import ConfigError, ProviderUnavailable
from genguard.layers.telemetry import TelemetryLayer
from genguard.telemetry.prometheus import MetricsServer, start_metrics_server


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    s = start_metrics_server(0, host="127.0.0.1", service_name="genguard-test")
    yield s
    s.close()


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_metrics_are_served_with_prometheus_names(server: MetricsServer, logs: Logs) -> None:
    assert server.port > 0
    layer = TelemetryLayer(meter_provider=server, logger=logs.logger)  # the server stands for it
    async with Client(FakeProvider(), [layer]) as client:
        await client.generate("a prompt")
    async with Client(
        FakeProvider(outcomes=[ProviderUnavailable("down", status=503)]), [layer]
    ) as client:
        with pytest.raises(ProviderUnavailable):
            await client.generate("a prompt")

    text = await scrape(server.url)
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]

    def has(name: str, *labels: str) -> bool:
        return any(s.startswith(name + "{") and all(lb in s for lb in labels) for s in samples)

    assert has(
        "genguard_calls_total", 'genguard_outcome="success"', 'gen_ai_provider_name="gcp.gemini"'
    )
    assert has("genguard_calls_total", 'genguard_outcome="unavailable"')
    assert has("gen_ai_client_operation_duration_seconds_bucket", 'le="0.01"')
    assert has("gen_ai_client_operation_duration_seconds_count", 'error_type="ProviderUnavailable"')
    assert has("genguard_attempts_total")
    assert has("genguard_calls_active")
    assert has("genguard_images_total")
    assert has("gen_ai_client_token_usage_sum", 'gen_ai_token_type="output"')
    assert has("target_info", 'service_name="genguard-test"')


def calls_total(text: str) -> dict[str, float]:
    """``genguard_calls_total`` samples by outcome, from one scrape."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("genguard_calls_total{"):
            outcome = line.split('genguard_outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


async def test_two_servers_do_not_share_series(logs: Logs) -> None:
    a = start_metrics_server(0, host="127.0.0.1")
    b = start_metrics_server(0, host="127.0.0.1")
    try:
        assert a.registry is not b.registry and a.port != b.port
        for server, outcomes in (
            (a, [None, None]),
            (b, [ProviderUnavailable("down", status=503)]),
        ):
            layer = TelemetryLayer(meter_provider=server, logger=logs.logger)
            async with Client(FakeProvider(outcomes=outcomes), [layer]) as client:
                for _ in outcomes:
                    with contextlib.suppress(ProviderUnavailable):
                        await client.generate("a prompt")
        # Each endpoint shows exactly the calls made through its own meter provider.
        assert calls_total(await scrape(a.url)) == {"success": 2.0}
        assert calls_total(await scrape(b.url)) == {"unavailable": 1.0}
    finally:
        a.close()
        b.close()


def test_bad_and_busy_ports_are_config_errors() -> None:
    with pytest.raises(ConfigError) as bad:
        start_metrics_server(70000)
    assert bad.value.path == "telemetry.prometheus.port"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError) as busy:
            start_metrics_server(taken.getsockname()[1], host="127.0.0.1")
    assert "cannot listen" in str(busy.value)


async def test_aclose_stops_serving_and_close_is_idempotent() -> None:
    s = start_metrics_server(0, host="127.0.0.1")
    port = s.port
    await s.aclose()
    s.close()
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))
