"""Cost where people look: metrics by tenant and outcome, the call and attempt spans, the log."""

from __future__ import annotations

from decimal import Decimal

import pytest
from telemetry_support import Logs, Metrics, Spans

from genguard import Client
from genguard.errors import BudgetExceeded, GenGuardError
from genguard.layers.budget import BudgetLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply


async def test_cost_metrics_spans_and_log(spans: Spans, metrics: Metrics, logs: Logs) -> None:
    async with Simulator("clean") as sim:
        telemetry = TelemetryLayer(
            tracer_provider=spans.provider, meter_provider=metrics.provider, logger=logs.logger
        )
        layers = [
            telemetry,
            RetryLayer(attempts=3, initial=0.001),
            BudgetLayer({"day": "0.10"}),
        ]
        async with Client(GeminiProvider("k", base_url=sim.base_url), layers) as client:
            sim.script("gemini", [Reply.reset()])
            first = await client.generate("a kite", metadata={"tenant": "acme"})
            with pytest.raises(GenGuardError):
                for _ in range(3):
                    await client.generate("a kite", metadata={"tenant": "acme"})
    assert first.cost is not None and first.cost.possibly_billed > 0
    settled = metrics.value("genguard.cost", genguard__tenant="acme", genguard__outcome="success")
    possible = metrics.value("genguard.cost.possibly_billed", genguard__tenant="acme")
    assert settled == pytest.approx(float(first.cost.settled))
    assert abs(Decimal(str(settled + possible)) - sim.ledger.total) < Decimal("0.0005")
    assert possible == pytest.approx(float(first.cost.possibly_billed))
    assert metrics.value("genguard.billing.attempts", genguard__billing__status="uncertain") == 1
    assert metrics.value("genguard.billing.possibly_billed_duplicates") == 1
    assert metrics.value("genguard.calls", genguard__outcome="budget_exceeded") == 1
    left = metrics.value("genguard.budget.remaining", genguard__tenant="acme")
    assert 0 <= left < 0.10
    call_span = next(s for s in spans.finished() if s.name.startswith("generate_content"))
    assert call_span.attributes is not None
    assert call_span.attributes["genguard.cost.possibly_billed"] == float(
        first.cost.possibly_billed
    )
    statuses = [s.attributes["genguard.billing.status"] for s in spans.named("genguard.attempt")]
    assert statuses[:2] == ["uncertain", "billed"]
    line = next(entry for entry in logs.lines() if entry.get("event") == "genguard.call")
    assert Decimal(line["cost"]) == first.cost.settled
    assert Decimal(line["cost_possibly_billed"]) == first.cost.possibly_billed


async def test_budget_refusal_is_its_own_outcome(metrics: Metrics) -> None:
    async with Simulator("clean") as sim:
        telemetry = TelemetryLayer(meter_provider=metrics.provider, logs=False)
        layers = [telemetry, BudgetLayer({"day": "0.0001"})]
        async with Client(GeminiProvider("k", base_url=sim.base_url), layers) as client:
            with pytest.raises(BudgetExceeded):
                await client.generate("a kite")
    assert metrics.value("genguard.billing.attempts", genguard__billing__status="not_sent") == 1
    assert metrics.value("genguard.budget.remaining", genguard__budget__window="day") == 0.0001
