"""Whole stack, any faults, any options: no call outlives its deadline (fake clock).

A provider plays seeded random faults per attempt (503s, 429s with and without
quota evidence or hints, spent quotas, stalls, connection resets) under the
documented layer order with random options, many calls at once. Every call ends,
success or typed error, at or before its deadline on virtual time, whatever the
layers were doing (queued at the cap, paced, paused, waiting out a breaker,
backing off).
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genguard import Client
from genguard.clock import FakeClock
from genguard.errors import GenGuardError, ProviderUnavailable, QuotaExhausted, RateLimited
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.model import Call, GenerationResult, RateLimitInfo
from genguard.providers.static import StaticProvider
from genguard.providers.transport import HttpTransport

KINDS = ("ok", "503", "429", "429-quota", "429-remaining", "per-day", "stall", "reset")


class Faulty(StaticProvider):
    """Seeded random outcome per attempt, with weights chosen by the test."""

    def __init__(self, clock: FakeClock, weights: list[int], seed: int, stall: float) -> None:
        super().__init__(name="faulty", model="f1")
        self.clock = clock
        self.weights = weights
        self.rng = random.Random(seed)
        self.stall = stall

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        kind = self.rng.choices(KINDS, weights=self.weights)[0]
        hint = round(self.rng.uniform(0.0, 20.0), 3)
        if kind == "503":
            raise ProviderUnavailable("503", status=503, retry_after=hint or None)
        if kind.startswith("429"):
            error = RateLimited("429", retry_after=hint, hint_source="retry-after")
            if kind == "429-quota":
                error.quota_ids = ("RequestsPerMinutePerProject",)
            elif kind == "429-remaining":
                error.rate_limit = RateLimitInfo(remaining_requests=0, reset_requests=hint)
            raise error
        if kind == "per-day":
            spent = QuotaExhausted("spent", status=429, retry_after=hint)
            spent.quota_ids = ("RequestsPerDayPerProject",)
            raise spent
        if kind == "stall":
            await self.clock.sleep(self.stall)
        if kind == "reset":  # as the transport maps a dropped connection
            raise ProviderUnavailable("connection reset") from ConnectionResetError("reset")
        return await super().send(call, transport)


options = st.fixed_dictionaries(
    {
        "attempts": st.integers(1, 8),
        "initial": st.floats(0.0, 5.0),
        "max_retry_after": st.floats(0.0, 120.0),
        "reset_timeout": st.floats(0.1, 30.0),
        "fail_max": st.one_of(st.none(), st.integers(1, 5)),
        "min_calls": st.integers(1, 30),
        "requests": st.one_of(st.none(), st.sampled_from(["1/s", "5/s", "60/min", "20/s"])),
        "concurrency": st.one_of(st.none(), st.integers(1, 16)),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opts=options,
    weights=st.lists(st.integers(0, 10), min_size=len(KINDS), max_size=len(KINDS)).filter(any),
    deadline=st.floats(0.5, 60.0),
    stall=st.floats(0.0, 90.0),
    calls=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_no_call_outlives_its_deadline(
    opts: dict[str, object],
    weights: list[int],
    deadline: float,
    stall: float,
    calls: int,
    seed: int,
) -> None:
    clock = FakeClock(start=0.0)
    layers = [
        RetryLayer(
            attempts=opts["attempts"],  # type: ignore[arg-type]
            initial=opts["initial"],  # type: ignore[arg-type]
            max_retry_after=opts["max_retry_after"],  # type: ignore[arg-type]
            rng=random.Random(seed),
        ),
        CircuitBreakerLayer(
            reset_timeout=opts["reset_timeout"],  # type: ignore[arg-type]
            fail_max=opts["fail_max"],  # type: ignore[arg-type]
            min_calls=opts["min_calls"],  # type: ignore[arg-type]
        ),
        RateLimitLayer(
            requests=opts["requests"],  # type: ignore[arg-type]
            concurrency=opts["concurrency"],  # type: ignore[arg-type]
        ),
    ]
    provider = Faulty(clock, weights, seed, stall)
    client = Client(provider, layers, clock=clock, deadline=deadline)
    ends: list[tuple[float, float, object]] = []

    async def one(i: int) -> None:
        await clock.sleep(i * 0.1)
        started = clock.now()
        try:
            await client.generate(f"p{i}")
            outcome: object = "ok"
        except GenGuardError as error:
            outcome = error
        ends.append((started, clock.now(), outcome))

    async def run() -> None:
        async with client:
            await asyncio.gather(*(one(i) for i in range(calls)))

    asyncio.run(run())
    assert len(ends) == calls
    for started, ended, outcome in ends:
        assert ended - started <= deadline + 1e-9, (ended - started, deadline, outcome)
