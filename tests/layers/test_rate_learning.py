"""What the rate-limit layer learns from the server, on a fake clock.

A learned rate from quota-shaped 429s (AIMD), a lone 429 left to the retry layer,
a storm of 429s treated as quota evidence, and spent quotas refused locally.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_rate_limit import Recorder, make_call, result

from genguard.clock import FakeClock
from genguard.errors import QuotaExhausted, RateLimited
from genguard.layers.rate_limit import DEFAULT_QUOTA_COOLOFF, RateLimitLayer
from genguard.model import Call, GenerationResult, RateLimitInfo
from genguard.observe import RecordingObserver
from genguard.state.adaptive import (
    DECREASE,
    MIN_RATE,
    AdaptiveRate,
    ThrottleWindow,
    quantize,
    seconds_to_pacific_midnight,
)
from genguard.state.limiter import MemoryLimiterBackend

KEY = "sim/m1"


def per_minute_429(hint: float = 0.05) -> RateLimited:
    error = RateLimited("429", retry_after=hint, hint_source="retry-info")
    error.quota_ids = ("GenerateRequestsPerMinutePerProjectPerModel-FreeTier",)
    return error


def remaining_zero_429(hint: float = 0.05) -> RateLimited:
    error = RateLimited("429", retry_after=hint, hint_source="retry-after-ms")
    error.rate_limit = RateLimitInfo(remaining_requests=0, reset_requests=hint)
    return error


def per_day() -> QuotaExhausted:
    error = QuotaExhausted("per day", status=429, code="RESOURCE_EXHAUSTED", retry_after=30.0)
    error.quota_ids = ("GenerateRequestsPerDayPerProjectPerModel-FreeTier",)
    return error


class Bucket:
    """A server allowing ``rate``/s (1 deep) that answers 429s in a chosen dialect."""

    def __init__(self, clock: FakeClock, rate: float, shape: str = "quota") -> None:
        self.clock = clock
        self.rate = rate
        self.shape = shape
        self.tokens = 1.0
        self.last = clock.now()
        self.ok = 0
        self.refused = 0

    async def __call__(self, call: Call) -> GenerationResult:
        now = self.clock.now()
        self.tokens = min(1.0, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.ok += 1
            return result()
        self.refused += 1
        wait = (1.0 - self.tokens) / self.rate
        if self.shape == "quota":
            raise per_minute_429(wait)
        if self.shape == "headers":
            raise remaining_zero_429(wait)
        raise RateLimited("429", retry_after=wait)


async def drive(layer: RateLimitLayer, server: Bucket, clock: FakeClock, calls: int) -> int:
    """``calls`` calls at concurrency 16, each retried until it succeeds; returns attempts."""
    attempts = 0
    gate = asyncio.Semaphore(16)

    async def one() -> None:
        nonlocal attempts
        async with gate:
            while True:
                attempts += 1
                try:
                    await layer(make_call(clock), server)
                    return
                except RateLimited as error:
                    await clock.sleep(error.retry_after or 0.0)

    await asyncio.gather(*(one() for _ in range(calls)))
    return attempts


# -- a lone 429 is the retry layer's business --------------------------------------------------


async def test_a_random_429_neither_pauses_the_key_nor_sets_a_rate(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(concurrency=16, clock=fake_clock)

    async def once(call: Call) -> GenerationResult:
        raise RateLimited("a random 429", retry_after=2.0)

    with pytest.raises(RateLimited):
        await layer(make_call(fake_clock, recorder), once)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    await layer(make_call(fake_clock), downstream)
    assert downstream.times == [start]  # the next caller goes at once
    assert layer.learned_rate(KEY) is None
    assert "limiter_paused" not in recorder.names()


# -- learning a rate ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["quota", "headers"])
async def test_an_untold_client_learns_near_the_servers_rate(
    fake_clock: FakeClock, shape: str
) -> None:
    layer = RateLimitLayer(concurrency=16, clock=fake_clock)
    server = Bucket(fake_clock, rate=20.0, shape=shape)
    attempts = await drive(layer, server, fake_clock, 400)
    learned = layer.learned_rate(KEY)
    assert learned is not None and 12.0 <= learned <= 24.0
    assert server.ok == 400
    assert attempts / 400 <= 1.15  # few 429s once learned
    # ...and it did not crawl: 400 calls at 20/s take 20 s.
    assert fake_clock.now() - 1000.0 <= 30.0


async def test_a_storm_of_plain_429s_counts_as_evidence(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=16, clock=fake_clock)
    server = Bucket(fake_clock, rate=20.0, shape="plain")
    attempts = await drive(layer, server, fake_clock, 300)
    assert layer.learned_rate(KEY) is not None
    assert attempts / 300 <= 1.3


async def test_a_configured_rate_is_only_ever_lowered(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="30/s", concurrency=16, clock=fake_clock)
    assert layer.learned_rate(KEY) == 30.0
    server = Bucket(fake_clock, rate=20.0)
    await drive(layer, server, fake_clock, 300)
    learned = layer.learned_rate(KEY)
    assert learned is not None and learned < 30.0
    # A server that stops refusing lets it climb back, but never past 30/s.
    fast = Bucket(fake_clock, rate=1000.0)
    await drive(layer, fast, fake_clock, 600)
    assert layer.learned_rate(KEY) == pytest.approx(30.0, rel=0.01)


async def test_a_burst_of_429s_from_one_overshoot_cuts_once(fake_clock: FakeClock) -> None:
    rate = AdaptiveRate(ceiling=10.0)
    assert rate.throttled(KEY, now=1.0, sent_at=0.9, observed=50.0) == 10.0 * DECREASE
    # answers to requests sent before that cut say nothing new
    assert rate.throttled(KEY, now=1.1, sent_at=0.95, observed=50.0) is None
    assert rate.throttled(KEY, now=1.2, sent_at=1.15, observed=50.0) == 10.0 * DECREASE**2
    assert rate.cuts(KEY) == 2


def test_429s_sent_at_the_instant_of_the_cut_belong_to_its_burst() -> None:
    # A coarse clock (15.6 ms on Windows, a fake clock in tests) gives a whole burst
    # one timestamp: its sixteen 429s must cut the rate once, not sixteen times.
    rate = AdaptiveRate(ceiling=10.0)
    cuts = [rate.throttled(KEY, now=2.0, sent_at=2.0, observed=16.0) for _ in range(16)]
    assert cuts[0] == 10.0 * DECREASE and cuts[1:] == [None] * 15
    assert rate.cuts(KEY) == 1


def test_a_storm_needs_a_sample_large_enough_to_tell_it_from_random_429s() -> None:
    # Twelve 429s in twenty answers: what a 30% random refusal rate produces by
    # chance between two waves of retries aligned on a Retry-After date.
    window = ThrottleWindow()
    for i in range(20):
        window.add(KEY, now=i * 0.05, throttled=i % 5 < 3)
    assert not window.storm(KEY)
    # The same share over thirty answers is no accident: a storm.
    for i in range(20, 30):
        window.add(KEY, now=i * 0.05, throttled=i % 5 < 3)
    assert window.storm(KEY)
    # Thirty answers with a random-looking 30% of 429s never are.
    calm = ThrottleWindow()
    for i in range(60):
        calm.add(KEY, now=i * 0.03, throttled=i % 10 < 3)
    assert not calm.storm(KEY)


def test_the_learned_rate_has_a_floor() -> None:
    rate = AdaptiveRate()
    for i in range(100):
        rate.throttled(KEY, now=float(i), sent_at=float(i), observed=1.0)
    assert rate.rate(KEY) == pytest.approx(quantize(MIN_RATE))


@given(st.floats(min_value=1e-3, max_value=1e6))
def test_quantized_rates_are_within_one_percent(value: float) -> None:
    assert math.isclose(quantize(value), value, rel_tol=0.006)


# -- spent quotas ------------------------------------------------------------------------------


async def test_a_per_day_quota_refuses_locally_until_midnight_pacific(
    fake_clock: FakeClock,
) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(concurrency=16, clock=fake_clock)
    sent = 0

    async def spent(call: Call) -> GenerationResult:
        nonlocal sent
        sent += 1
        raise per_day()

    with pytest.raises(QuotaExhausted) as first:
        await layer(make_call(fake_clock, recorder), spent)
    assert not first.value.local
    for _ in range(50):
        with pytest.raises(QuotaExhausted) as refused:
            await layer(make_call(fake_clock), spent)
        assert refused.value.local and refused.value.code == "RESOURCE_EXHAUSTED"
    assert sent == 1  # nothing more went upstream
    until = refused.value.retry_after
    assert until == pytest.approx(seconds_to_pacific_midnight(fake_clock.wall()), abs=1.0)
    assert recorder.of("notice")[0]["event"] == "quota_spent"
    fake_clock.advance(until + 1.0)  # the next day: the key sends again
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    assert len(downstream.times) == 1


async def test_a_billing_quota_refuses_for_the_cooloff(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=4, quota_cooloff=120.0, clock=fake_clock)

    async def spent(call: Call) -> GenerationResult:
        raise QuotaExhausted("insufficient_quota", status=429, code="insufficient_quota")

    with pytest.raises(QuotaExhausted):
        await layer(make_call(fake_clock), spent)
    fake_clock.advance(119.0)
    downstream = Recorder(fake_clock)
    with pytest.raises(QuotaExhausted):
        await layer(make_call(fake_clock), downstream)
    fake_clock.advance(2.0)
    await layer(make_call(fake_clock), downstream)
    assert len(downstream.times) == 1
    assert RateLimitLayer(concurrency=1).quota_cooloff == DEFAULT_QUOTA_COOLOFF


async def test_a_shared_backend_tells_another_replica_the_quota_is_spent(
    fake_clock: FakeClock,
) -> None:
    backend = MemoryLimiterBackend(clock=fake_clock)
    one = RateLimitLayer(requests="10/s", backend=backend, clock=fake_clock)
    two = RateLimitLayer(requests="10/s", backend=backend, clock=fake_clock)

    async def spent(call: Call) -> GenerationResult:
        raise QuotaExhausted("insufficient_quota", code="insufficient_quota")

    with pytest.raises(QuotaExhausted):
        await one(make_call(fake_clock), spent)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    with pytest.raises(QuotaExhausted) as refused:
        await two(make_call(fake_clock, deadline=30.0), downstream)
    assert refused.value.local and downstream.times == []
    assert fake_clock.now() == start  # refused at once, not after a wait


@given(st.floats(min_value=0.0, max_value=4e9))
def test_pacific_midnight_is_the_next_local_midnight(wall: float) -> None:
    seconds = seconds_to_pacific_midnight(wall)
    assert 1.0 <= seconds <= 25 * 3600.0
    zone = ZoneInfo("America/Los_Angeles")
    at = dt.datetime.fromtimestamp(wall + seconds, zone)
    if seconds > 1.0:  # a clamped second past midnight is not exactly midnight
        assert (at.hour, at.minute, at.second) == (0, 0, 0)


async def test_a_quota_shaped_429_among_good_answers_pauses_but_sets_no_rate(
    fake_clock: FakeClock,
) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(concurrency=16, clock=fake_clock)
    for _ in range(10):
        await layer(make_call(fake_clock), Recorder(fake_clock))

    async def once(call: Call) -> GenerationResult:
        raise per_minute_429(0.5)

    with pytest.raises(RateLimited):
        await layer(make_call(fake_clock, recorder), once)
    assert layer.learned_rate(KEY) is None  # 1 of 11 answers: luck, not a rate
    assert [e["seconds"] for e in recorder.of("limiter_paused")] == [0.5]


async def test_a_caller_waiting_for_its_slot_leaves_when_the_quota_is_spent(
    fake_clock: FakeClock,
) -> None:
    layer = RateLimitLayer(requests="1/s", clock=fake_clock)
    start = fake_clock.now()

    async def spent_later(call: Call) -> GenerationResult:
        await fake_clock.sleep(0.4)  # in flight when the next caller queues
        raise per_day()

    first = asyncio.create_task(layer(make_call(fake_clock), spent_later))
    await asyncio.sleep(0)
    downstream = Recorder(fake_clock)
    ended: list[float] = []

    async def waiter() -> None:
        try:
            await layer(make_call(fake_clock), downstream)  # its slot is 1 s away
        finally:
            ended.append(fake_clock.now())

    second = asyncio.create_task(waiter())
    with pytest.raises(QuotaExhausted):
        await first
    with pytest.raises(QuotaExhausted) as refused:
        await second
    assert refused.value.local and downstream.times == []
    assert ended[0] - start < 1.0  # left before its slot came, without sending
