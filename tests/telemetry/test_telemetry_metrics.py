"""Metrics read back with InMemoryMetricReader: names, units, buckets, attributes, values.

Retries, limiter waits, breaker transitions and safety verdicts come from the real
layers, with the simulator answering over HTTP, on fake time (``sim_stack``).
"""

from __future__ import annotations

import pytest
from telemetry_support import (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    RETRIED_TWICE,
    FakeProvider,
    Logs,
    Metrics,
    Spans,
    breaker,
    limiter,
    retry,
    sim_stack,
)

from genguard import Client, GenerationRequest
from genguard.errors import ContentBlocked, ProviderUnavailable
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Reply
from genguard.telemetry import semconv as sc

MODEL = "gemini-2.5-flash-image"
BASE = {
    "gen_ai.operation.name": "generate_content",
    "gen_ai.provider.name": "gcp.gemini",
    "gen_ai.request.model": MODEL,
}


def layer(metrics: Metrics, logs: Logs, spans: Spans | None = None) -> TelemetryLayer:
    return TelemetryLayer(
        tracer_provider=spans.provider if spans else None,
        meter_provider=metrics.provider,
        logger=logs.logger,
    )


async def test_metrics_of_a_call_that_retried_twice_and_waited(
    metrics: Metrics, logs: Logs
) -> None:
    """503, 429 (0.5 s), success at one request a second: 2 s, two 0.5 s permit waits."""
    layers = [layer(metrics, logs), retry(delay=0.5), limiter("1/s")]
    async with sim_stack(layers, RETRIED_TWICE) as stack:
        await stack.generate(GenerationRequest(prompt="a lighthouse"))

    found = metrics.metrics()
    # duration: the convention's name, unit and buckets; FakeClock makes the value exact
    duration = found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert duration.unit == "s"
    ((attrs, point),) = metrics.points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert attrs == BASE
    assert point.count == 1
    assert point.sum == pytest.approx(0.5 + 0.5 + 0.5 + 0.5)  # retry, wait, retry, wait
    assert tuple(point.explicit_bounds) == sc.OPERATION_DURATION_BUCKETS

    assert metrics.value("genguard.calls", genguard__outcome="success") == 1
    assert metrics.value("genguard.calls") == 1
    assert metrics.value("genguard.calls.active") == 0
    assert metrics.value("genguard.attempts", genguard__outcome="unavailable") == 1
    assert metrics.value("genguard.attempts", genguard__outcome="rate_limited") == 1
    assert metrics.value("genguard.attempts", genguard__outcome="success") == 1
    retries = {
        (a["genguard.retry.reason"], a["genguard.retry.hint_source"]): p.value
        for a, p in metrics.points("genguard.retries")
    }
    assert retries == {("ProviderUnavailable", "none"): 1, ("RateLimited", "retry-after"): 1}

    ((wait_attrs, wait),) = metrics.points("genguard.limiter.wait.duration")
    assert found["genguard.limiter.wait.duration"].unit == "s"
    assert wait_attrs == {
        **BASE,
        "genguard.limiter.key": f"gemini/{MODEL}",
        "genguard.limiter.reason": "rate",
    }
    assert wait.count == 2  # the attempts that waited: the first was admitted at once
    assert wait.sum == pytest.approx(1.0)

    assert metrics.value("genguard.images") == 1
    tokens = {
        a["gen_ai.token.type"]: p.sum for a, p in metrics.points(sc.GEN_AI_CLIENT_TOKEN_USAGE)
    }
    assert tokens == {"input": INPUT_TOKENS, "output": OUTPUT_TOKENS}
    assert found[sc.GEN_AI_CLIENT_TOKEN_USAGE].unit == "{token}"
    assert "genguard.safety.blocks" not in found
    assert "genguard.retry.gave_up" not in found


async def test_metrics_of_a_blocked_call(metrics: Metrics, logs: Logs) -> None:
    rules = SafetyLayer(input=ClassifierChain([RulesClassifier({"violence": ["forbidden"]})]))
    async with sim_stack([layer(metrics, logs), rules, retry(), limiter()]) as stack:
        with pytest.raises(ContentBlocked):
            await stack.generate("forbidden words")
    assert stack.sim.requests == 0

    assert metrics.value("genguard.calls", genguard__outcome="blocked") == 1
    # counted once, from the verdict, not again from the ContentBlocked it raised
    blocks = metrics.points("genguard.safety.blocks")
    assert [(a, p.value) for a, p in blocks] == [
        (
            {
                **BASE,
                "genguard.safety.stage": "input",
                "genguard.safety.category": "violence",
                "genguard.safety.source": "classifier",
            },
            1,
        )
    ]
    assert metrics.value("genguard.safety.verdicts", genguard__safety__action="block") == 1
    ((attrs, point),) = metrics.points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert attrs == {**BASE, "error.type": "ContentBlocked"}
    assert point.count == 1
    assert "genguard.attempts" not in metrics.metrics()
    assert metrics.value("genguard.calls.active") == 0


async def test_provider_block_counted_with_its_stage_and_category(
    metrics: Metrics, logs: Logs
) -> None:
    blocked = ContentBlocked(
        "image safety", stage="output", category="sexual", source="provider", reason="IMAGE_SAFETY"
    )
    async with Client(FakeProvider(outcomes=[blocked]), [layer(metrics, logs)]) as client:
        with pytest.raises(ContentBlocked):
            await client.generate("a prompt")
    points = metrics.points("genguard.safety.blocks")
    assert [
        (
            a["genguard.safety.stage"],
            a["genguard.safety.category"],
            a["genguard.safety.source"],
            p.value,
        )
        for a, p in points
    ] == [("output", "sexual", "provider", 1)]
    assert metrics.value("genguard.attempts", genguard__outcome="blocked") == 1


async def test_breaker_state_gauge_and_transitions(metrics: Metrics, logs: Logs) -> None:
    async with sim_stack(
        [layer(metrics, logs), breaker(fail_max=2)], [Reply.status(503)] * 2
    ) as stack:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await stack.generate("a prompt")
    assert metrics.points("genguard.breaker.state")[0][0] == {
        "genguard.breaker.key": f"gemini/{MODEL}"
    }
    assert metrics.value("genguard.breaker.state") == 2  # open
    assert metrics.value("genguard.breaker.transitions", genguard__breaker__to="open") == 1


async def test_gave_up_and_in_flight(metrics: Metrics, logs: Logs) -> None:
    import asyncio

    layers = [layer(metrics, logs), retry(attempts=2, delay=0.1)]
    async with sim_stack(layers, [Reply.status(503)] * 2) as stack:
        with pytest.raises(ProviderUnavailable):
            await stack.generate("a prompt")
    assert stack.sim.requests == 2
    assert metrics.value("genguard.retry.gave_up", genguard__retry__reason="attempts") == 1
    assert metrics.value("genguard.calls", genguard__outcome="unavailable") == 1

    # in flight while the provider is busy, back to zero after
    gate = asyncio.Event()
    entered: list[int] = []
    all_in = asyncio.Event()

    class Slow(FakeProvider):
        async def send(self, call, transport):  # type: ignore[no-untyped-def]
            entered.append(1)
            if len(entered) == 3:
                all_in.set()
            await gate.wait()
            return await super().send(call, transport)

    async with Client(Slow(), [layer(metrics, logs)]) as client:
        tasks = [asyncio.create_task(client.generate("a prompt")) for _ in range(3)]
        await all_in.wait()
        metrics.collect()
        assert metrics.value("genguard.calls.active") == 3
        gate.set()
        await asyncio.gather(*tasks)
    metrics.collect()
    assert metrics.value("genguard.calls.active") == 0
    assert metrics.value("genguard.calls", genguard__outcome="success") == 3


async def test_two_layers_on_one_provider_share_instruments(metrics: Metrics, logs: Logs) -> None:
    first, second = layer(metrics, logs), layer(metrics, logs)
    async with Client(FakeProvider(), [first]) as a, Client(FakeProvider(), [second]) as b:
        await a.generate("one")
        await b.generate("two")
    # an SDK meter ignores a second registration's callbacks: both calls must still count
    assert metrics.value("genguard.calls", genguard__outcome="success") == 2


def test_label_sets_beyond_the_limit_fold_into_one_overflow_series() -> None:
    from genguard.telemetry.otel import MAX_SERIES, Counts

    counts = Counts("genguard.breaker.key")
    for index in range(MAX_SERIES + 5):
        counts.add((f"tenant-{index}",))
    observed = counts.observe(None)  # type: ignore[arg-type]
    assert len(observed) == MAX_SERIES + 1
    (overflow,) = [o for o in observed if o.attributes == {"otel.metric.overflow": True}]
    assert overflow.value == 5
    counts.add(("tenant-0",), 2)  # an existing series keeps counting
    assert {"genguard.breaker.key": "tenant-0"} in [o.attributes for o in counts.observe(None)]  # type: ignore[arg-type]
