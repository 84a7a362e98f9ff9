"""Whole stacks over HTTP under every simulator fault, on one fake clock.

The documented default stack (telemetry, safety, retry, circuit_breaker,
rate_limit {concurrency: 16}, timeout, every other option left at its default),
the shipped example profile (``examples/production.yaml``, Gemini with OpenAI as
fallback, run by 4 callers) and a hand-built fallback stack each run 48 calls at
concurrency 16,
30 s deadline, against each fault of ``genguard.sim.profiles.FAULTS``, on both
APIs. The simulator and the client share a ``FakeClock`` that moves only while
every caller sleeps on it (``support.drive``), so outages, rate limits and
breaks last their production length in virtual time and the test runs in
seconds. Stalls are real I/O, so the stall fault is shortened to 0.3 s here.

Asserted per call, not in aggregate: each call succeeds or fails with an error
of a type that fault can explain; no call ends after its deadline (exact, on
virtual time); the simulator counts 0 Retry-After violations; a spent per-day
quota costs at most one upstream request per call and fails at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from genguard import Client
from genguard.clock import FakeClock
from genguard.config import client_from_config
from genguard.errors import (
    AttemptTimeout,
    CircuitOpen,
    DeadlineExceeded,
    GenGuardError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Layer
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Simulator
from genguard.sim.profiles import FAULTS
from support import drive, provider_for

ROOT = Path(__file__).resolve().parents[2]
CALLS = 48
WORKERS = 16
DEADLINE = 30.0
#: Calls arrive every quarter second of virtual time (the soak one a second apart, so
#: they meet its phases).
SPACING = {"soak": 1.0}
#: Stalls are real seconds of I/O: shortened so the suite stays fast.
SCALED = {"stall": {"delay": 0.3}, "daily-quota": {"images": 20}}

#: Errors each fault can explain when a call runs out of attempts, time or luck.
RETRYABLE = (ProviderUnavailable, RateLimited, AttemptTimeout, DeadlineExceeded)
EXPLAINED: dict[str, tuple[type[GenGuardError], ...]] = {
    "flaky": (ProviderUnavailable, RateLimited),
    "server-rate": (),
    "random-429": (RateLimited,),
    "outage": (ProviderUnavailable,),
    "stall": (),
    "daily-quota": (QuotaExhausted,),
    "soak": (ProviderUnavailable, RateLimited),
}
#: A stack with fixed, long breaks (the shipped profile's 30 s) may give up on an
#: outage: the fallback target meets the same simulator's outage.
OUTAGE_EXTRA = (CircuitOpen, ProviderUnavailable, RateLimited, DeadlineExceeded)


def default_stack(api: str, base_url: str) -> list[Layer]:
    """The documented stack with every option at its default."""
    del api, base_url
    return [
        TelemetryLayer(logs=False),
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(),
        CircuitBreakerLayer(),
        RateLimitLayer(concurrency=16),
        TimeoutLayer(),
    ]


def fallback_stack(api: str, base_url: str) -> list[Layer]:
    """The default stack with the other API as its fallback (its own default layers)."""
    other = "openai" if api == "gemini" else "gemini"
    target = FallbackTarget(
        provider_for(other, base_url),
        [RetryLayer(), CircuitBreakerLayer(), RateLimitLayer(concurrency=16), TimeoutLayer()],
    )
    layers = default_stack(api, base_url)
    layers.insert(2, FallbackLayer([target]))
    return layers


@dataclass
class Run:
    outcomes: list[object] = field(default_factory=list)
    overshoot: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)


async def run_calls(
    client: Client, clock: FakeClock, spacing: float, workers: int = WORKERS
) -> Run:
    run = Run()
    queue = list(range(CALLS))
    t0 = clock.now()

    async def worker() -> None:
        while queue:
            i = queue.pop(0)
            await clock.sleep(max(0.0, t0 + i * spacing - clock.now()))
            started = clock.now()
            try:
                await client.generate(f"a lighthouse at dusk, take {i}", deadline=DEADLINE)
                outcome: object = "ok"
            except GenGuardError as error:
                outcome = error
            run.outcomes.append(outcome)
            run.started.append(started - t0)
            run.latency.append(clock.now() - started)
            run.overshoot.append(clock.now() - started - DEADLINE)

    await drive(clock, [worker() for _ in range(workers)], stop_at=t0 + 600.0)
    return run


def check(run: Run, sim: Simulator, fault: str, allowed: Sequence[type[BaseException]]) -> None:
    assert len(run.outcomes) == CALLS
    unexplained = [o for o in run.outcomes if o != "ok" and not isinstance(o, tuple(allowed))]
    assert not unexplained, f"{fault}: {unexplained[:3]}"
    assert max(run.overshoot) <= 0.0, f"{fault}: a call outlived its deadline"
    assert sim.retry_after_violations == 0, fault


def check_quota(run: Run, sim: Simulator, served_before: int) -> None:
    """Once spent, each call costs at most one request and fails at once."""
    failed = [(o, lat) for o, lat in zip(run.outcomes, run.latency, strict=True) if o != "ok"]
    assert failed, "the quota never ran out"
    assert all(isinstance(o, QuotaExhausted) for o, _ in failed)
    assert all(lat == 0.0 for _, lat in failed)  # no sleeping on RetryInfo, no retry
    ok = sum(o == "ok" for o in run.outcomes)
    spent_requests = sim.requests - served_before - ok
    assert spent_requests <= len(failed)


Factory = Callable[[str, str], list[Layer]]


async def stack_under_fault(
    make: Factory, api: str, fault: str, *, fallback_api: str | None = None
) -> tuple[Run, Simulator]:
    name, options = FAULTS[fault]
    clock = FakeClock(auto=False)
    async with Simulator(name, clock=clock, **{**options, **SCALED.get(fault, {})}) as sim:
        client = Client(provider_for(api, sim.base_url), make(api, sim.base_url), clock=clock)
        async with client:
            run = await run_calls(client, clock, SPACING.get(fault, 0.25))
    return run, sim


@pytest.mark.parametrize("api", ["gemini", "openai"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_the_default_stack_under_each_fault(api: str, fault: str) -> None:
    run, sim = await stack_under_fault(default_stack, api, fault)
    check(run, sim, fault, EXPLAINED[fault])
    if fault == "daily-quota":
        check_quota(run, sim, 0)
    elif fault == "outage":
        # A call that met the start of the outage may run out of attempts before the
        # breaker trips; every call that starts once it tripped waits it out.
        outage_end = FAULTS["outage"][1]["duration"]
        for outcome, started in zip(run.outcomes, run.started, strict=True):
            if outcome != "ok":
                assert isinstance(outcome, ProviderUnavailable) and started < outage_end / 2
    elif fault in ("server-rate", "stall"):
        assert run.outcomes == ["ok"] * CALLS  # nothing a default stack should lose


@pytest.mark.parametrize("api", ["gemini", "openai"])
@pytest.mark.parametrize("fault", ["daily-quota", "outage", "flaky"])
async def test_a_fallback_stack_takes_over_at_once(api: str, fault: str) -> None:
    run, sim = await stack_under_fault(fallback_stack, api, fault)
    if fault == "daily-quota":
        # The primary's quota runs out; the other API's own quota serves the rest
        # (20 images each), and nothing waits: the primary refuses locally.
        ok = sum(o == "ok" for o in run.outcomes)
        assert ok == min(CALLS, 40)
        check(run, sim, fault, (QuotaExhausted,))
    else:
        check(run, sim, fault, EXPLAINED[fault] + OUTAGE_EXTRA)


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_the_shipped_example_profile_under_each_fault(fault: str) -> None:
    name, options = FAULTS[fault]
    clock = FakeClock(auto=False)
    async with Simulator(name, clock=clock, **{**options, **SCALED.get(fault, {})}) as sim:
        env: dict[str, Any] = {
            "GEMINI_API_KEY": "sim-key",
            "OPENAI_API_KEY": "sim-key",
            "GEMINI_BASE_URL": sim.base_url,
            "OPENAI_BASE_URL": sim.base_url,
        }
        client = client_from_config(
            ROOT / "examples" / "production.yaml", profile="default", clock=clock, env=env
        )
        async with client:
            # 4 callers: no more than the profile's smallest concurrency cap (its
            # fallback's), because a caller queued at a cap waits on a future, not
            # on the clock, and fake time cannot move past it.
            run = await run_calls(client, clock, SPACING.get(fault, 0.25), workers=4)
    allowed = EXPLAINED[fault] + OUTAGE_EXTRA
    check(run, sim, fault, allowed)


def test_every_fault_profile_is_covered() -> None:
    assert set(EXPLAINED) == set(FAULTS)
    assert asyncio.iscoroutinefunction(run_calls)
