"""My service's image stack must survive the faults production will throw at it."""

from __future__ import annotations

import pytest

from genguard import Client, ContentBlocked
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import Rate, RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.testing import (
    amplification_at_most,
    deadline_held,
    every_block_typed,
    no_retry_after_violations,
    run_calls,
    success_at_least,
)


def my_stack() -> list:
    """The stack my service runs, at test scale (short backoff, short attempt timeout)."""
    return [
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(attempts=5, initial=0.05, max_delay=1.0, max_retry_after=10.0),
        CircuitBreakerLayer(fail_max=50, reset_timeout=1.0),
        RateLimitLayer(requests=Rate.parse("15/s"), concurrency=8),  # under the 20/s quota
        TimeoutLayer(attempt=5.0),
    ]


@pytest.mark.genguard_faults("clean", "flaky", "ratelimit")
@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_my_stack_survives(genguard_sim, genguard_fault, api):
    sim = await genguard_sim(genguard_fault)
    provider = (
        GeminiProvider("test-key", base_url=sim.base_url)
        if api == "gemini"
        else OpenAIProvider("test-key", base_url=sim.base_url)
    )
    async with Client(provider, my_stack(), deadline=20) as client:
        report = await run_calls(client, calls=16, concurrency=8, sim=sim)

    success_at_least(report, 1.0)
    no_retry_after_violations(report)
    deadline_held(report, tolerance=0.5)
    amplification_at_most(report, 1.0 if genguard_fault == "clean" else 2.5)
    assert report.calls == 16


async def test_blocks_are_typed_and_never_retried(genguard_sim):
    sim = await genguard_sim("safety", fraction=0.5)
    provider = GeminiProvider("test-key", base_url=sim.base_url)
    async with Client(provider, my_stack(), deadline=20) as client:
        report = await run_calls(client, calls=16, concurrency=4, sim=sim)

    every_block_typed(report, sim)
    blocked = [o for o in report.outcomes if isinstance(o.error, ContentBlocked)]
    assert blocked, "the safety profile blocks half of all prompts"
    assert all(o.ok for o in report.outcomes if o not in blocked)


async def test_a_stack_without_retry_is_caught(genguard_sim):
    """The requirement has teeth: a bare client under a flaky provider fails it."""
    sim = await genguard_sim("flaky", failure_rate=0.5)
    provider = GeminiProvider("test-key", base_url=sim.base_url)
    async with Client(provider, [], deadline=20) as client:
        report = await run_calls(client, calls=16, concurrency=8, sim=sim)

    with pytest.raises(AssertionError, match="calls succeeded"):
        success_at_least(report, 0.95)
    amplification_at_most(report, 1.0)  # nothing was retried


async def test_fake_clock_makes_backoff_instant(genguard_clock, genguard_observer):
    """Long server hints cost no real time on the fake clock."""
    from genguard.errors import RateLimited
    from genguard.providers.static import ScriptedProvider

    provider = ScriptedProvider(
        [RateLimited("slow down", retry_after=30.0), RateLimited("again", retry_after=30.0), None]
    )
    layers = [RetryLayer(attempts=3, initial=0.1, max_delay=60.0, max_retry_after=60.0)]
    async with Client(
        provider, layers, deadline=120, clock=genguard_clock, observer=genguard_observer
    ) as client:
        result = await client.generate("a red fox")

    assert result.attempts == 3
    delays = [e["delay"] for e in genguard_observer.of("retry_scheduled")]
    assert len(delays) == 2 and all(d >= 30.0 for d in delays)
    assert genguard_clock.now() - 1000.0 >= 60.0
