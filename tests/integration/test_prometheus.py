"""A real Prometheus scrapes a real pipeline, and every query of the Grafana dashboard returns data.

Starts ``prometheus`` (Debian package, installed by CI) on a free port with a
1-second scrape of genguard's ``/metrics`` endpoint, runs the full default
stack (telemetry, safety, retry, circuit breaker, rate limit, timeout) against
the simulator's ``flaky`` profile over loopback HTTP, then evaluates each PromQL
expression in ``docs/dashboards/genguard.json`` (and each variable query)
through Prometheus's HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from genguard import Client
from genguard.errors import GenGuardError
from genguard.layers.budget import BudgetLayer
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
from genguard.sim.replies import Reply
from genguard.telemetry.prometheus import MetricsServer, start_metrics_server
from support import free_port

DASHBOARD = Path(__file__).parents[2] / "docs" / "dashboards" / "genguard.json"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
#: What Grafana would substitute: "All" for the variables, a window for the rate interval.
SUBSTITUTIONS = {"$__rate_interval": "1m", "$provider": ".*", "$model": ".*"}

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow, pytest.mark.prometheus]


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
            walk(panel.get("panels", []))

    walk(board["panels"])
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = (
            variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        )
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
        assert match, f"variable {variable['name']}: unsupported query {query!r}"
        metric, label = match.groups()  # Grafana's label_values, as the PromQL it stands for
        found.append((f"variable {variable['name']!r}", f"count by ({label}) ({metric})"))
    return found


def substitute(expr: str) -> str:
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


@pytest.fixture
def metrics_server() -> Iterator[MetricsServer]:
    server = start_metrics_server(0, host="127.0.0.1", service_name="genguard-it")
    yield server
    server.close()


@pytest.fixture
async def prometheus(tmp_path: Path, metrics_server: MetricsServer) -> AsyncIterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: genguard\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 900ms\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_server.port}']\n"
    )
    proc = await asyncio.create_subprocess_exec(
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                assert proc.returncode is None, "prometheus exited early"
                try:
                    async with session.get(f"{url}/-/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "prometheus did not become ready"
                await asyncio.sleep(0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run_traffic(server: MetricsServer) -> dict[str, int]:
    """The default stack against the flaky simulator, with blocked prompts and a forced trip."""
    outcomes: dict[str, int] = {}
    # resets: some answers are lost after the work was done (possibly-billed cost)
    async with Simulator("flaky", failure_rate=0.35, max_hint=0.2, seed=3, resets=0.3) as sim:
        provider = GeminiProvider("sim-key-not-a-secret", base_url=sim.base_url)
        layers = [
            TelemetryLayer(meter_provider=server.meter_provider, logs=False),
            SafetyLayer(input=ClassifierChain([RulesClassifier()])),
            RetryLayer(attempts=4, initial=0.02, max_delay=0.1, max_retry_after=2.0),
            BudgetLayer({"minute": "100", "day": "1000"}),
            CircuitBreakerLayer(fail_max=3, reset_timeout=0.3, max_reset_timeout=0.3),
            RateLimitLayer(requests="40/s", concurrency=4),
            TimeoutLayer(5.0),
        ]
        async with Client(provider, layers, deadline=10.0) as client:

            async def one(prompt: str) -> None:
                try:
                    await client.generate(prompt)
                    outcome = "success"
                except GenGuardError as error:
                    outcome = type(error).__name__
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

            # a run of 503s: the breaker opens, retry gives up, the breaker recovers
            sim.script("gemini", [Reply.status(503)] * 8)
            await asyncio.gather(*(one(f"a quiet harbour, take {i}") for i in range(2)))
            await asyncio.sleep(0.4)
            # steady flaky traffic, a few prompts the rules classifier blocks
            for wave in range(6):
                prompts = [f"a lighthouse at dusk, wave {wave} no {i}" for i in range(10)]
                prompts.append("a gruesome massacre scene with severed heads")
                await asyncio.gather(*(one(p) for p in prompts))
    return outcomes


async def query(session: aiohttp.ClientSession, base: str, expr: str) -> list[Any]:
    async with session.get(f"{base}/api/v1/query", params={"query": expr}) as resp:
        body = await resp.json()
    assert body.get("status") == "success", f"{expr}: {body}"
    result: list[Any] = body["data"]["result"]
    return result


async def test_every_dashboard_query_returns_data(
    prometheus: str, metrics_server: MetricsServer
) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    outcomes = await run_traffic(metrics_server)
    assert outcomes.get("success", 0) > 20
    assert outcomes.get("ContentBlocked", 0) == 6

    empty: list[str] = []
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 15  # a few scrapes, so rate() has two samples
        while True:
            empty = []
            for where, expr in expressions:
                if not await query(session, prometheus, substitute(expr)):
                    empty.append(f"{where}: {expr}")
            if not empty or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        # the data came from this run's scrape target
        up = await query(session, prometheus, 'up{job="genguard"}')
    assert empty == [], "dashboard queries without data:\n" + "\n".join(empty)
    assert [r["value"][1] for r in up] == ["1"]
