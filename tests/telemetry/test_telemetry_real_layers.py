"""Telemetry fed by the real retry, rate-limit and circuit-breaker layers (no stand-ins).

The events come from the layers users run, in front of the simulator over HTTP, on a
fake clock, so the figures are exact: a change in what a real layer reports (or stops
reporting) fails here.
"""

from __future__ import annotations

import pytest
from telemetry_support import RETRIED_TWICE, Logs, Metrics, Spans, sim_stack

from genguard import GenerationRequest
from genguard.errors import CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.pipeline import Layer
from genguard.sim import Reply

KEY = "gemini/gemini-2.5-flash-image"


def telemetry(spans: Spans, metrics: Metrics, logs: Logs) -> TelemetryLayer:
    return TelemetryLayer(
        tracer_provider=spans.provider, meter_provider=metrics.provider, logger=logs.logger
    )


async def test_retry_and_limiter_events_reach_spans_metrics_and_logs(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    """503, then a 429 with a 0.5 s hint, then success; one request a second.

    Timeline on the fake clock: attempt 1 at 0 (admitted at once) fails; retry waits
    0.5 s (backoff, no jitter); attempt 2's slot is at 1.0 (a 0.5 s rate wait), it gets
    the 429; the hint pauses the key and the retry waits 0.5 s; attempt 3's slot is at
    2.0 (another 0.5 s wait) and succeeds. Total 2.0 s.
    """
    stack: list[Layer] = [
        telemetry(spans, metrics, logs),
        RetryLayer(attempts=3, initial=0.5, multiplier=1.0, max_delay=0.5, jitter="none"),
        CircuitBreakerLayer(fail_max=5, reset_timeout=30),
        RateLimitLayer(requests="1/s"),
    ]
    async with sim_stack(stack, RETRIED_TWICE) as run:
        await run.generate(GenerationRequest(prompt="a lighthouse"))
    assert run.clock.now() == pytest.approx(2.0)
    assert run.sim.requests == 3

    # metrics: the call's duration, attempts by outcome, retries with their real hint sources
    ((_, duration),) = metrics.points("gen_ai.client.operation.duration")
    assert duration.sum == pytest.approx(2.0)
    assert metrics.value("genguard.attempts", genguard__outcome="unavailable") == 1
    assert metrics.value("genguard.attempts", genguard__outcome="rate_limited") == 1
    assert metrics.value("genguard.attempts", genguard__outcome="success") == 1
    retries = {
        (a["genguard.retry.reason"], a["genguard.retry.hint_source"]): p.value
        for a, p in metrics.points("genguard.retries")
    }
    assert retries == {("ProviderUnavailable", "none"): 1, ("RateLimited", "retry-after"): 1}
    waits = [
        (a["genguard.limiter.reason"], p.sum)
        for a, p in metrics.points("genguard.limiter.wait.duration")
    ]
    assert sum(total for _, total in waits) == pytest.approx(1.0)
    assert metrics.value("genguard.breaker.transitions") == 0  # two failures < fail_max

    # spans: one call span, three attempts, the real layer's retry events
    (call_span,) = spans.named("generate_content gemini-2.5-flash-image")
    assert call_span.attributes["genguard.attempts"] == 3
    scheduled = [e for e in call_span.events if e.name == "genguard.retry.scheduled"]
    assert [e.attributes["genguard.retry.delay"] for e in scheduled] == [0.5, 0.5]
    assert [e.attributes["genguard.retry.hint_source"] for e in scheduled] == [
        "none",
        "retry-after",
    ]
    assert len(spans.named("genguard.attempt")) == 3

    # logs: one line for the call, with the attempts the real retry made
    (line,) = logs.events("genguard.call")
    assert line["outcome"] == "success" and line["attempts"] == 3


async def test_breaker_trips_and_refusals_are_counted(
    spans: Spans, metrics: Metrics, logs: Logs
) -> None:
    stack: list[Layer] = [telemetry(spans, metrics, logs), CircuitBreakerLayer(fail_max=2)]
    async with sim_stack(stack, [Reply.status(503)] * 2) as run:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await run.generate("a prompt")
        with pytest.raises(CircuitOpen):
            await run.generate("a prompt")
    assert run.sim.requests == 2  # the third call never reached the provider
    assert metrics.value("genguard.breaker.state") == 2  # open
    assert metrics.value("genguard.breaker.transitions", genguard__breaker__to="open") == 1
    assert metrics.value("genguard.calls", genguard__outcome="unavailable") == 2
    assert metrics.value("genguard.calls", genguard__outcome="circuit_open") == 1
    breaker_lines = [line for line in logs.lines() if "breaker" in line["event"]]
    assert breaker_lines and breaker_lines[0].get("key", KEY) == KEY
