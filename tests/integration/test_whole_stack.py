"""Whole stacks over HTTP under every simulator fault, on one fake clock.

The documented default stack (telemetry, safety, retry, circuit_breaker,
rate_limit {concurrency: 16}, timeout, every other option left at its default),
the shipped example profile (``examples/production.yaml``, Gemini with OpenAI as
fallback, run by 4 callers) and a hand-built fallback stack each run 48 calls at
concurrency 16,
30 s deadline, against each fault of ``genguard.sim.profiles.FAULTS``, on both
APIs. The simulator and the client share a ``FakeClock`` that moves only while
every caller sleeps on it, or waits on the simulator sleeping on it
(``support.drive`` with ``local=True``), so outages, rate limits, breaks and
stalls last their production length in virtual time and the test runs in
seconds.

Asserted per call, not in aggregate: each call succeeds or fails with an error
of a type that fault can explain; no call ends after its deadline (exact, on
virtual time); the simulator counts 0 Retry-After violations; a spent per-day
quota costs at most one upstream request per call and fails at once; a server
rate limit the client was not told about, or stalled bodies, cost at most one
extra request per call and 15% in all (the simulator's log, by each call's
prompt); stalled bodies never open the breaker.
"""

from __future__ import annotations

import asyncio
from collections import Counter
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
#: The default stack meets the server's 20 requests/s with calls arriving at twice
#: that rate, so the limit binds (a quarter second apart, it never would).
DEFAULT_SPACING = {**SPACING, "server-rate": 0.025}
#: A smaller quota, so it runs out a third of the way through 48 calls.
SCALED = {"daily-quota": {"images": 20}}
#: Upstream requests per call a fault may cost in all (the benchmark's bound), and
#: for any one call: one refusal or one stalled attempt, then the one that succeeds.
AMPLIFICATION = 1.15
PER_CALL = 2

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
    client: Client,
    clock: FakeClock,
    spacing: float,
    workers: int = WORKERS,
    calls: int = CALLS,
) -> Run:
    run = Run()
    queue = list(range(calls))
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

    await drive(clock, [worker() for _ in range(workers)], stop_at=t0 + 600.0, local=True)
    return run


def check(run: Run, sim: Simulator, fault: str, allowed: Sequence[type[BaseException]]) -> None:
    assert len(run.outcomes) == CALLS
    unexplained = [o for o in run.outcomes if o != "ok" and not isinstance(o, tuple(allowed))]
    assert not unexplained, f"{fault}: {unexplained[:3]}"
    assert max(run.overshoot) <= 0.0, f"{fault}: a call outlived its deadline"
    assert sim.retry_after_violations == 0, fault


def requests_per_call(sim: Simulator) -> Counter[str]:
    """Image requests the simulator received, by prompt (each call's prompt is its own)."""
    return Counter(r.prompt or "" for r in sim.log if r.api != "moderations")


def check_amplification(sim: Simulator, calls: int, fault: str) -> None:
    per_call = requests_per_call(sim)
    assert len(per_call) == calls, fault
    worst = per_call.most_common(1)[0]
    assert worst[1] <= PER_CALL, f"{fault}: {worst[1]} requests for {worst[0]!r}"
    total = sum(per_call.values())
    assert total <= AMPLIFICATION * calls, f"{fault}: {total} requests for {calls} calls"


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
    make: Factory,
    api: str,
    fault: str,
    *,
    spacing: float | None = None,
    calls: int = CALLS,
) -> tuple[Run, Simulator]:
    name, options = FAULTS[fault]
    clock = FakeClock(auto=False)
    async with Simulator(name, clock=clock, **{**options, **SCALED.get(fault, {})}) as sim:
        client = Client(provider_for(api, sim.base_url), make(api, sim.base_url), clock=clock)
        async with client:
            if spacing is None:
                spacing = SPACING.get(fault, 0.25)
            run = await run_calls(client, clock, spacing, calls=calls)
    return run, sim


@pytest.mark.parametrize("api", ["gemini", "openai"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_the_default_stack_under_each_fault(api: str, fault: str) -> None:
    run, sim = await stack_under_fault(
        default_stack, api, fault, spacing=DEFAULT_SPACING.get(fault, 0.25)
    )
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
        check_amplification(sim, CALLS, fault)
        if fault == "stall":  # the default attempt timeout (60 s) outlasts a 10 s stall
            assert max(run.latency) == pytest.approx(FAULTS["stall"][1]["delay"])


STALL_TIMEOUT = 5.0
STALL_CALLS = 200


def stall_stack(api: str, base_url: str) -> list[Layer]:
    """The default stack with a 5 s attempt timeout: shorter than a 10 s stall."""
    layers = default_stack(api, base_url)
    layers[-1] = TimeoutLayer(STALL_TIMEOUT)
    return layers


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_stalled_bodies_are_cut_and_retried_without_opening_the_breaker(api: str) -> None:
    """10% of bodies stall 10 s; a 5 s attempt timeout cuts each and the call retries.

    200 calls, 16 at a time back to back, as the benchmark runs them. The stalls
    are seeded: the 200 first attempts meet 16 of them (the breaker sees a run of
    timeouts while 9 in 10 calls succeed), the 16 retries none. The 16th stall is
    the 200th draw: until then at most 15 of the 16 workers are held, so every
    first attempt goes out at once, before any retry, whatever the order of
    arrival. A breaker counting those timeouts as an unhealthy provider opens and
    fails calls with ``CircuitOpen``.
    """
    run, sim = await stack_under_fault(stall_stack, api, "stall", spacing=0.0, calls=STALL_CALLS)
    refused = [o for o in run.outcomes if isinstance(o, CircuitOpen)]
    assert not refused, f"{len(refused)} calls refused by an open breaker: {refused[0]}"
    assert run.outcomes == ["ok"] * STALL_CALLS
    # Each stalled attempt was cut at the attempt timeout, not waited out.
    stall = FAULTS["stall"][1]["delay"]
    assert max(run.latency) < stall, "a call waited out a whole stall"
    slow = [lat for lat in run.latency if lat >= STALL_TIMEOUT]
    assert len(slow) == 16  # the calls whose first attempt stalled, and only they
    check_amplification(sim, STALL_CALLS, "stall")


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


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_a_burst_against_an_untold_server_rate_loses_nothing(api: str) -> None:
    """Every call arrives at once (one virtual instant) at a server allowing 20/s.

    The first 16 attempts go out together and 15 come back 429, all sent at the
    same instant. They are one overshoot: the learned rate is cut once, not once
    per 429 (which drove it to its floor, and most calls failed with a 30 s wait).
    """
    run, sim = await stack_under_fault(default_stack, api, "server-rate", spacing=0.0)
    failed = [o for o in run.outcomes if o != "ok"]
    assert not failed, f"{len(failed)} calls lost: {failed[0]}"
    per_call = requests_per_call(sim)
    assert max(per_call.values()) <= PER_CALL
