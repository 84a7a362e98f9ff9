"""The rate-limit layer alone, with a hand-written ``next`` and a fake clock.

Every figure of the issue that does not need HTTP is asserted here on virtual
time: the 1-s window bound and utilisation at 50/s with 2,000 callers, FIFO for
weighted requests, the shared 429 pause, deadline fail-fast, the concurrency
cap, bounded keys and cancellation of 1,000 waiters.
"""

from __future__ import annotations

import asyncio
import bisect
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import support
from genguard.clock import FakeClock
from genguard.errors import BulkheadFull, ConfigError, RateLimited
from genguard.layers.rate_limit import RateLimitLayer
from genguard.model import Call, GenerationResult, Image, RateLimitInfo
from genguard.observe import RecordingObserver
from genguard.state.limiter import MemoryLimiterBackend

Next = Callable[[Call], Awaitable[GenerationResult]]


def make_call(clock: FakeClock, observer: RecordingObserver | None = None, **fields: Any) -> Call:
    return support.make_call(clock, observer or RecordingObserver(), **fields)


def result(**fields: Any) -> GenerationResult:
    return GenerationResult(
        images=(Image(b"x"),), generation_id="g", provider="sim", model="m1", **fields
    )


class Recorder:
    """A ``next`` that records when each attempt was let through (and by whom)."""

    def __init__(self, clock: FakeClock, hold: float = 0.0) -> None:
        self.clock = clock
        self.hold = hold
        self.times: list[float] = []
        self.who: list[Any] = []
        self.active = 0
        self.peak = 0

    async def __call__(self, call: Call) -> GenerationResult:
        self.times.append(self.clock.now())
        self.who.append(call.extras.get("who"))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.hold:
                await self.clock.sleep(self.hold)
        finally:
            self.active -= 1
        return result()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most admissions in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        j = bisect.bisect_left(ordered, start + window - 1e-9)
        best = max(best, j - i)
    return best


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"requests": "0/s"}, "requests"),
        ({"requests": "-5/min"}, "requests"),
        ({"images": "5/fortnight"}, "images"),
        ({"tokens": "lots"}, "tokens"),
        ({"requests": "5/0s"}, "requests"),
        ({"requests": "5/s", "burst": 0}, "burst"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2, "queue": -1}, "queue"),
        ({"requests": "1/s", "queue": 3}, "rate_limit"),
        ({"requests": "1/s", "max_keys": 0}, "max_keys"),
        ({"requests": "1/s", "key": "tenant//model"}, "key"),
        ({"requests": "1/s", "key": ""}, "key"),
        ({"requests": "1/s", "max_pause": 0}, "max_pause"),
        ({"requests": "1/s", "burst": True}, "burst"),
        ({"adapt": False}, "rate_limit"),
        ({"quota_cooloff": 0}, "quota_cooloff"),
    ],
)
def test_bad_config_names_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitLayer(**options)
    path = field if field == "rate_limit" else f"rate_limit.{field}"
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


def test_repr_shows_the_policy() -> None:
    layer = RateLimitLayer(requests="60/min", images="2/s", concurrency=4, key="tenant")
    assert repr(layer) == (
        "RateLimitLayer(requests=60/min, images=2/s, concurrency=4, queue=1000, key='tenant')"
    )


# -- accuracy -----------------------------------------------------------------------------------


async def test_2000_callers_at_50_per_s_hold_every_window_and_use_the_rate(
    fake_clock: FakeClock,
) -> None:
    layer = RateLimitLayer(requests="50/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()

    async def caller() -> None:
        while True:
            await layer(make_call(fake_clock), downstream)

    tasks = [asyncio.create_task(caller()) for _ in range(2000)]
    await fake_clock.sleep(5.0)
    await cancel_all(tasks)

    admitted = [t for t in downstream.times if t < start + 5.0]
    assert max_in_window(downstream.times) <= 50  # no initial burst, no window over
    assert len(admitted) / (50 * 5.0) >= 0.95
    assert len(admitted) == 250  # exactly the rate: one every 20 ms from t=0


async def test_a_fresh_limiter_does_not_burst(fake_clock: FakeClock) -> None:
    """aiolimiter's AsyncLimiter(50, 1) admits 99 in its first second; this admits 50."""
    layer = RateLimitLayer(requests="50/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    tasks = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(200)]
    await fake_clock.sleep(1.0)
    await cancel_all(tasks)
    assert len([t for t in downstream.times if t < start + 1.0]) == 50
    gaps = {round(b - a, 9) for a, b in zip(downstream.times, downstream.times[1:], strict=False)}
    assert gaps == {0.02}


async def test_burst_admits_that_many_at_once_then_the_rate(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="50/s", burst=10, clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    tasks = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(300)]
    await fake_clock.sleep(3.0)
    await cancel_all(tasks)
    assert downstream.times[:10] == [start] * 10
    assert downstream.times[10] == pytest.approx(start + 0.02)
    assert max_in_window(downstream.times) == 50 + 10 - 1  # the documented initial burst


# -- weights and fairness ------------------------------------------------------------------


async def test_a_large_request_waits_its_turn_behind_small_ones(fake_clock: FakeClock) -> None:
    """aiolimiter serves smaller amounts first, so acquire(8) starves behind acquire(1)s."""
    layer = RateLimitLayer(images="10/s", clock=fake_clock)
    downstream = Recorder(fake_clock)

    async def one(tag: str, n: int) -> None:
        call = make_call(fake_clock, n=n)
        call.extras["who"] = tag
        await layer(call, downstream)

    async def stream() -> None:
        i = 0
        while True:
            await one(f"small{i}", 1)
            i += 1

    streams = [asyncio.create_task(stream()) for _ in range(20)]
    await fake_clock.sleep(0.5)  # the stream is queued well ahead
    big = asyncio.create_task(one("big", 8))
    booked_at = fake_clock.now()
    await asyncio.sleep(0)
    await fake_clock.sleep(10.0)
    await cancel_all(streams)
    assert big.done() and big.exception() is None
    at = downstream.times[downstream.who.index("big")]
    # 20 single-image bookings were made before it, so it goes about 2 s later, not never.
    assert at - booked_at == pytest.approx(2.0, abs=0.11)
    after = [t for t, w in zip(downstream.times, downstream.who, strict=True) if t > at]
    assert after[0] - at == pytest.approx(0.8)  # its 8 images are paid for before the next


async def test_images_count_n_and_requests_count_one(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="100/s", images="4/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    for _ in range(3):
        await layer(make_call(fake_clock, n=2), downstream)
    assert [t - start for t in downstream.times] == pytest.approx([0.0, 0.5, 1.0])


async def test_tokens_use_the_estimate_and_skip_requests_without_one(
    fake_clock: FakeClock,
) -> None:
    layer = RateLimitLayer(tokens="1000/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    await layer(make_call(fake_clock, tokens=500), downstream)
    await layer(make_call(fake_clock, tokens=500), downstream)
    await layer(make_call(fake_clock), downstream)  # no estimate: not charged
    await layer(make_call(fake_clock, tokens=100), downstream)
    assert [t - start for t in downstream.times] == pytest.approx([0.0, 0.5, 0.5, 1.0])


# -- partition keys -------------------------------------------------------------------------


async def test_keys_are_provider_model_by_default(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="1/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    await asyncio.gather(
        layer(make_call(fake_clock, model="a"), downstream),
        layer(make_call(fake_clock, model="b"), downstream),
        layer(make_call(fake_clock, model="a"), downstream),
    )
    assert sorted(t - start for t in downstream.times) == pytest.approx([0.0, 0.0, 1.0])


async def test_keys_from_metadata(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="1/s", key="tenant", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    calls = [
        make_call(fake_clock, recorder, model="a", metadata={"tenant": "acme"}),
        make_call(fake_clock, recorder, model="b", metadata={"tenant": "acme"}),
        make_call(fake_clock, recorder, model="a", metadata={"tenant": "globex"}),
    ]
    await asyncio.gather(*(layer(c, downstream) for c in calls))
    assert sorted(t - start for t in downstream.times) == pytest.approx([0.0, 0.0, 1.0])
    assert {e["limiter_key"] for e in recorder.of("limiter_waited")} == {"tenant=acme"}


async def test_key_spec_parts_and_callables(fake_clock: FakeClock) -> None:
    from genguard.layers.rate_limit import key_function

    call = make_call(fake_clock, model="m", metadata={"tenant": "acme"})
    assert key_function("provider/model")(call) == "sim/m"
    assert key_function("provider/model/tenant")(call) == "sim/m/tenant=acme"
    assert key_function("key/api_key_id")(call) == "sim/m/api_key_id=-"
    assert key_function(lambda c: "fixed")(call) == "fixed"


async def test_live_keys_are_bounded(fake_clock: FakeClock) -> None:
    backend = MemoryLimiterBackend(clock=fake_clock, max_keys=100)
    layer = RateLimitLayer(requests="10/s", key="tenant", backend=backend, clock=fake_clock)
    downstream = Recorder(fake_clock)
    for i in range(5000):
        await layer(make_call(fake_clock, metadata={"tenant": f"t{i}"}), downstream)
        if i % 50 == 0:
            fake_clock.advance(0.2)  # keys go idle now and then
    assert len(backend) <= 100
    assert len(downstream.times) == 5000


# -- deadline ----------------------------------------------------------------------------------


async def test_a_wait_past_the_deadline_fails_fast_and_takes_nothing(
    fake_clock: FakeClock,
) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="1/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    start = fake_clock.now()
    await layer(make_call(fake_clock), downstream)  # t=0, next slot t=1
    with pytest.raises(RateLimited) as info:
        await layer(make_call(fake_clock, recorder, deadline=0.5), downstream)
    assert info.value.scope == "client"
    assert info.value.retry_after == pytest.approx(1.0)
    assert fake_clock.now() == start  # failed at once, no sleeping
    await layer(make_call(fake_clock, deadline=1.5), downstream)
    assert downstream.times[-1] - start == pytest.approx(1.0)  # the refused one took no slot
    assert "limiter_waited" not in recorder.names()


async def test_a_pause_that_pushes_a_waiter_past_its_deadline_fails_it(
    fake_clock: FakeClock,
) -> None:
    layer = RateLimitLayer(requests="1/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    waiter = asyncio.create_task(layer(make_call(fake_clock, deadline=2.0), downstream))
    await asyncio.sleep(0)
    assert layer.backend is not None
    await layer.backend.pause("sim/m1", 5.0)
    with pytest.raises(RateLimited) as info:
        await waiter
    assert info.value.scope == "client"
    assert fake_clock.now() - downstream.times[0] == pytest.approx(1.0)  # failed on waking


# -- adaptive pause --------------------------------------------------------------------------


def per_minute_429(hint: float) -> RateLimited:
    """A Gemini-style 429 naming a per-minute quota: quota-shaped evidence."""
    error = RateLimited("429", retry_after=hint, hint_source="retry-info")
    error.quota_ids = ("GenerateRequestsPerMinutePerProjectPerModel",)
    return error


async def test_one_429_holds_back_every_caller_of_the_key(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="10/s", clock=fake_clock)
    times: list[float] = []
    start = fake_clock.now()

    async def next_(call: Call) -> GenerationResult:
        times.append(fake_clock.now())
        if len(times) == 3:
            raise per_minute_429(2.0)
        return result()

    calls = [make_call(fake_clock, recorder) for _ in range(10)]
    outcomes = await asyncio.gather(*(layer(c, next_) for c in calls), return_exceptions=True)
    assert sum(isinstance(o, RateLimited) for o in outcomes) == 1
    rel = [round(t - start, 6) for t in times]
    assert rel[:3] == [0.0, 0.1, 0.2]
    # Everyone else (already booked at 0.3, 0.4, ...) waits until the reset at
    # 0.2 + 2 s, then resumes at the configured spacing: no thundering herd.
    assert rel[3:] == pytest.approx([2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8])
    assert recorder.of("limiter_paused") == [
        {"limiter_key": "sim/m1", "seconds": 2.0, "source": "retry-info"}
    ]
    paused = [e for e in recorder.of("limiter_waited") if e["reason"] == "paused"]
    assert len(paused) == 7


async def test_new_callers_wait_for_the_pause_too(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="10/s", clock=fake_clock)
    start = fake_clock.now()

    async def limited(call: Call) -> GenerationResult:
        raise per_minute_429(3.0)

    with pytest.raises(RateLimited):
        await layer(make_call(fake_clock), limited)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock, recorder), downstream)
    assert downstream.times[0] - start == pytest.approx(3.0)
    assert recorder.of("limiter_waited") == [
        {"limiter_key": "sim/m1", "seconds": pytest.approx(3.0), "reason": "paused"}
    ]


async def test_remaining_zero_with_a_reset_pauses_the_key(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="100/s", clock=fake_clock)
    start = fake_clock.now()
    info = RateLimitInfo(remaining_requests=0, reset_requests=1.5)

    async def exhausted(call: Call) -> GenerationResult:
        return result(rate_limit=info)

    await layer(make_call(fake_clock, recorder), exhausted)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    assert downstream.times[0] - start == pytest.approx(1.5)
    assert recorder.of("limiter_paused")[0]["source"] == "x-ratelimit-reset"


async def test_headers_with_budget_left_do_not_pause(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="100/s", clock=fake_clock)
    start = fake_clock.now()

    async def fine(call: Call) -> GenerationResult:
        return result(rate_limit=RateLimitInfo(remaining_requests=3, reset_requests=1.5))

    await layer(make_call(fake_clock), fine)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    assert downstream.times[0] - start == pytest.approx(0.01)


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("no hint"),
        RateLimited("client", retry_after=5.0, scope="client", status=None),
        RateLimited("a random 429: the retry layer delays that call alone", retry_after=5.0),
    ],
)
async def test_no_pause_without_a_server_hint(fake_clock: FakeClock, error: Exception) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="100/s", clock=fake_clock)
    start = fake_clock.now()

    async def failing(call: Call) -> GenerationResult:
        raise error

    with pytest.raises(type(error)):
        await layer(make_call(fake_clock, recorder), failing)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    assert downstream.times[0] - start == pytest.approx(0.01)
    assert "limiter_paused" not in recorder.names()


async def test_an_absurd_hint_is_clamped(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="100/s", max_pause=10.0, clock=fake_clock)
    start = fake_clock.now()

    async def limited(call: Call) -> GenerationResult:
        raise per_minute_429(7200.0)

    with pytest.raises(RateLimited):
        await layer(make_call(fake_clock, recorder), limited)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    assert downstream.times[0] - start == pytest.approx(10.0)
    events = [n["event"] for n in recorder.of("notice")]
    assert events == ["rate_limit_learned", "rate_limit_pause_clamped"]


# -- cancellation -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["fifo", "lifo", "random"])
async def test_cancelling_1000_waiters_leaves_full_rate_at_once(
    fake_clock: FakeClock, order: str
) -> None:
    layer = RateLimitLayer(requests="50/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    first = asyncio.create_task(layer(make_call(fake_clock), downstream))
    waiters = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(1000)]
    await first
    await asyncio.sleep(0)
    if order == "lifo":
        waiters.reverse()
    elif order == "random":
        random.Random(7).shuffle(waiters)
    await cancel_all(waiters)
    assert all(t.cancelled() for t in waiters)
    # The queue was 20 s long; now the next slot is the one right after `first`.
    start = fake_clock.now()
    fresh = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(50)]
    await asyncio.gather(*fresh)
    admitted = [t - start for t in downstream.times[1:]]
    assert len(admitted) == 50
    assert admitted[0] == pytest.approx(0.02)
    assert admitted[-1] == pytest.approx(1.0)


async def test_cancelling_one_waiter_in_the_middle_never_over_admits(
    fake_clock: FakeClock,
) -> None:
    layer = RateLimitLayer(requests="10/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    tasks = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(20)]
    await asyncio.sleep(0)
    tasks[5].cancel()
    late = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(10)]
    await asyncio.gather(*tasks, *late, return_exceptions=True)
    assert len(downstream.times) == 29
    assert max_in_window(downstream.times) <= 10


async def test_cancellation_propagates_at_once_and_is_announced(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(requests="1/s", clock=fake_clock)
    downstream = Recorder(fake_clock)
    await layer(make_call(fake_clock), downstream)
    waiter = asyncio.create_task(layer(make_call(fake_clock, recorder), downstream))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert recorder.of("limiter_waited") == [
        {"limiter_key": "sim/m1", "seconds": 0.0, "reason": "rate"}
    ]
    start = fake_clock.now()
    await layer(make_call(fake_clock), downstream)
    assert downstream.times[-1] - start == pytest.approx(1.0)  # its slot was given back


# -- concurrency cap ------------------------------------------------------------------------


async def test_at_most_n_in_flight_and_fifo(fake_clock: FakeClock) -> None:
    recorder = RecordingObserver()
    layer = RateLimitLayer(concurrency=3, clock=fake_clock)
    downstream = Recorder(fake_clock, hold=1.0)
    start = fake_clock.now()

    async def one(i: int) -> None:
        call = make_call(fake_clock, recorder)
        call.extras["who"] = i
        await layer(call, downstream)

    await asyncio.gather(*(one(i) for i in range(10)))
    assert downstream.peak == 3
    assert downstream.who == list(range(10))
    assert [round(t - start, 6) for t in downstream.times] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    waits = recorder.of("limiter_waited")
    assert len(waits) == 7 and {w["reason"] for w in waits} == {"concurrency"}
    assert layer.in_flight("sim/m1") == 0 and layer.waiting("sim/m1") == 0


async def test_a_full_queue_raises_bulkhead_full(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=2, queue=3, clock=fake_clock)
    downstream = Recorder(fake_clock, hold=1.0)
    tasks = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(5)]
    await asyncio.sleep(0)
    assert layer.in_flight("sim/m1") == 2 and layer.waiting("sim/m1") == 3
    with pytest.raises(BulkheadFull) as info:
        await layer(make_call(fake_clock), downstream)
    assert info.value.key == "sim/m1"
    await asyncio.gather(*tasks)
    assert len(downstream.times) == 5


async def test_a_wait_past_the_deadline_raises_bulkhead_full(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=1, clock=fake_clock)
    downstream = Recorder(fake_clock, hold=5.0)
    holder = asyncio.create_task(layer(make_call(fake_clock), downstream))
    await asyncio.sleep(0)
    start = fake_clock.now()
    with pytest.raises(BulkheadFull):
        await layer(make_call(fake_clock, deadline=2.0), downstream)
    assert fake_clock.now() - start == pytest.approx(2.0)
    assert layer.waiting("sim/m1") == 0
    await holder
    await layer(make_call(fake_clock), downstream)  # the slot is free again
    assert layer.in_flight("sim/m1") == 0


async def test_cancelled_queue_waiters_leak_no_slots(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=2, clock=fake_clock)
    downstream = Recorder(fake_clock, hold=1.0)
    holders = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(2)]
    queued = [asyncio.create_task(layer(make_call(fake_clock), downstream)) for _ in range(100)]
    await asyncio.sleep(0)
    assert layer.waiting("sim/m1") == 100
    await cancel_all(queued)
    assert layer.waiting("sim/m1") == 0
    await asyncio.gather(*holders)
    assert layer.in_flight("sim/m1") == 0
    start = fake_clock.now()
    await asyncio.gather(*(layer(make_call(fake_clock), downstream) for _ in range(2)))
    assert fake_clock.now() - start == pytest.approx(1.0)  # both ran at once


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(concurrency=1, clock=fake_clock)
    gate = asyncio.Event()

    async def held(call: Call) -> GenerationResult:
        await gate.wait()
        return result()

    holder = asyncio.create_task(layer(make_call(fake_clock), held))
    waiter = asyncio.create_task(layer(make_call(fake_clock), held))
    third = asyncio.create_task(layer(make_call(fake_clock), held))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.sleep(0)  # holder finishes and hands its slot to `waiter`...
    await asyncio.sleep(0)
    waiter.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(holder, waiter, third, return_exceptions=True)
    assert third.done() and third.exception() is None
    assert layer.in_flight("sim/m1") == 0


async def test_concurrency_and_rate_together(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="10/s", concurrency=2, clock=fake_clock)
    downstream = Recorder(fake_clock, hold=0.5)
    await asyncio.gather(*(layer(make_call(fake_clock), downstream) for _ in range(20)))
    assert downstream.peak == 2
    assert max_in_window(downstream.times) <= 10


async def test_results_and_errors_pass_through_untouched(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="10/s", concurrency=2, clock=fake_clock)
    expected = result(text="hi")

    async def ok(call: Call) -> GenerationResult:
        return expected

    async def boom(call: Call) -> GenerationResult:
        raise ValueError("boom")

    assert await layer(make_call(fake_clock), ok) is expected
    with pytest.raises(ValueError, match="boom"):
        await layer(make_call(fake_clock), boom)
    assert layer.in_flight("sim/m1") == 0


async def test_the_memory_backend_runs_on_the_calls_clock(fake_clock: FakeClock) -> None:
    layer = RateLimitLayer(requests="1/s")  # no clock given: the call's clock is used
    downstream = Recorder(fake_clock)
    await asyncio.gather(*(layer(make_call(fake_clock), downstream) for _ in range(3)))
    assert [t - downstream.times[0] for t in downstream.times] == [0.0, 1.0, 2.0]
    await layer.aclose()
