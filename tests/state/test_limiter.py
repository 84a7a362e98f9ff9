"""The LimiterBackend contract, on the memory backend, driven by hand on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.clock import FakeClock
from genguard.state.limiter import (
    GUARD_MARGIN,
    Bucket,
    Demand,
    Limit,
    LimiterBackend,
    MemoryLimiterBackend,
    Reservation,
)

REQ = Limit("requests", 10.0)


def one(limit: Limit = REQ, amount: float = 1.0) -> list[Demand]:
    return [Demand(limit, amount)]


def test_memory_backend_implements_the_protocol() -> None:
    assert isinstance(MemoryLimiterBackend(), LimiterBackend)


@pytest.mark.parametrize(
    ("rate", "capacity"), [(0.0, 1.0), (-1.0, 1.0), (float("inf"), 1.0), (1.0, 0.5)]
)
def test_limit_refuses_nonsense(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        Limit("x", rate, capacity)


# -- the leaky bucket -------------------------------------------------------------------------


def test_bucket_is_a_leaky_bucket_on_the_injected_clock() -> None:
    clock = FakeClock()
    bucket = Bucket(Limit("r", 10.0, 5.0), clock)
    assert bucket.capacity == 5.0 and bucket.rate == 10.0
    assert bucket.has_capacity(5)  # starts empty: no initial burst beyond the capacity
    bucket.take(4, 0.0)
    assert bucket.level() == 4.0
    clock.advance(0.2)  # drains elapsed * rate
    assert bucket.level() == pytest.approx(2.0)
    assert bucket.has_capacity(3) and not bucket.has_capacity(3.5)
    # the wait until `amount` fits: (amount - capacity + level) / rate
    assert bucket.wait_for(4) == pytest.approx((4 - 5 + 2) / 10)
    assert bucket.wait_for(8) == pytest.approx(2 / 10)  # larger than the bucket: once empty
    assert bucket.free_at() == pytest.approx(clock.now() + 0.2)
    clock.advance(1.0)
    assert bucket.level() == 0.0 and bucket.free_at() == clock.now()


def test_bucket_books_future_capacity_beyond_its_size() -> None:
    clock = FakeClock()
    bucket = Bucket(Limit("r", 10.0, 1.0), clock)
    bucket.take(1, 0.0)
    bucket.take(1, bucket.wait_for(1))
    assert bucket.level() == pytest.approx(2.0)  # one unit booked 0.1 s ahead
    bucket.give_back(1)
    assert bucket.level() == pytest.approx(1.0)
    bucket.set_free_at(clock.now() + 0.5)
    assert bucket.free_at() == pytest.approx(clock.now() + 0.5)
    assert "capacity=1" in repr(bucket)


# -- reserve / confirm / cancel --------------------------------------------------------------


async def test_bookings_are_spaced_at_the_rate_and_fifo_for_any_weight() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    waits = [(await backend.reserve("k", one(amount=a))).wait for a in (1, 8, 1, 1)]
    # 8 units wait behind 1, and the next single waits behind the 8 units.
    assert waits == pytest.approx([0.0, 0.1, 0.9, 1.0])


async def test_confirm_admits_when_due() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    booking = await backend.reserve("k", one())
    assert booking.granted and booking.wait == pytest.approx(0.1)
    clock.advance(0.05)
    early = await backend.confirm(booking)
    assert early.wait == pytest.approx(0.05)
    clock.advance(0.05)
    assert (await backend.confirm(early)).wait == 0.0


async def test_a_booking_beyond_max_wait_takes_nothing() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    refused = await backend.reserve("k", one(), max_wait=0.05)
    assert not refused.granted and refused.wait == pytest.approx(0.1)
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.1)
    await backend.cancel(refused)  # a no-op
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.2)


async def test_cancelling_the_tail_gives_its_slots_back() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    tail = [await backend.reserve("k", one()) for _ in range(5)]
    for booking in tail:  # oldest first: each is rolled back once nothing is behind it
        await backend.cancel(booking)
        await backend.cancel(booking)  # idempotent
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.1)


async def test_a_cancelled_booking_in_the_middle_stays_a_hole() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    bookings = [await backend.reserve("k", one()) for _ in range(4)]
    await backend.cancel(bookings[1])
    # Re-using the hole would put two admissions 0.1 s apart... or closer: never.
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.4)
    await backend.cancel(bookings[3])  # not the tail any more: nothing changes
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.5)


async def test_cancelling_an_admitted_booking_gives_nothing_back() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    admitted = await backend.reserve("k", one())
    await backend.cancel(admitted)
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.1)


async def test_demands_are_booked_together() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    images = Limit("images", 2.0)
    both = [Demand(REQ, 1), Demand(images, 2)]
    assert (await backend.reserve("k", both)).wait == 0.0
    second = await backend.reserve("k", both)
    assert second.wait == pytest.approx(1.0)  # images decide
    # The requests bucket is booked for the admission time, not for its own wait.
    assert (await backend.reserve("k", [Demand(REQ, 1)])).wait == pytest.approx(1.1)
    zero = await backend.reserve("k", [Demand(images, 0)])
    assert zero.wait == 0.0  # a zero demand takes nothing


async def test_keys_are_independent() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("a", one())
    assert (await backend.reserve("b", one())).wait == 0.0
    assert (await backend.reserve("a", one())).wait == pytest.approx(0.1)


async def test_a_reconfigured_limit_keeps_what_is_booked() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    await backend.reserve("k", one())
    faster = Limit("requests", 100.0)
    assert (await backend.reserve("k", one(faster))).wait == pytest.approx(0.2)


# -- pause -------------------------------------------------------------------------------------


async def test_pause_holds_everyone_and_keeps_the_queue_spacing() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    queued = [await backend.reserve("k", one()) for _ in range(3)]  # 0.1, 0.2, 0.3
    assert await backend.pause("k", 2.0) == pytest.approx(2.0)
    assert await backend.paused_for("k") == pytest.approx(2.0)
    clock.advance(0.1)
    moved = [await backend.confirm(b) for b in queued]
    assert [m.wait for m in moved] == pytest.approx([1.9, 2.0, 2.1])
    assert {m.reason for m in moved} == {"paused"}
    fresh = await backend.reserve("k", one())
    assert fresh.wait == pytest.approx(2.2)


async def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.pause("k", 5.0)
    assert await backend.pause("k", 1.0) == pytest.approx(5.0)
    booking = await backend.reserve("k", one())
    assert booking.wait == pytest.approx(5.0) and booking.reason == "paused"
    assert await backend.paused_for("other") == 0.0


async def test_concurrent_429s_do_not_add_up() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    queued = [await backend.reserve("k", one()) for _ in range(3)]
    await backend.pause("k", 1.0)
    clock.advance(0.01)
    await backend.pause("k", 1.0)  # the same reset, seen by a second caller
    assert (await backend.confirm(queued[1])).wait == pytest.approx(1.0)


async def test_a_due_caller_that_wakes_during_a_pause_waits_for_it() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    await backend.reserve("k", one())
    due = await backend.reserve("k", one())
    clock.advance(0.1)  # its slot came; it has not run yet
    await backend.reserve("other", one())
    await backend.pause("k", 1.0)
    assert (await backend.confirm(due)).wait == pytest.approx(1.0)


# -- bounded keys ------------------------------------------------------------------------------


async def test_idle_keys_are_evicted_first_and_the_count_is_bounded() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock, max_keys=3)
    await backend.reserve("busy", one())
    await backend.reserve("busy", one())  # booked ahead: not idle
    await backend.reserve("idle1", one())
    clock.advance(2.0)
    await backend.reserve("busy", one())
    await backend.reserve("busy", one())
    await backend.reserve("new", one())
    assert len(backend) == 3 and backend.busy_evictions == 0
    assert (await backend.reserve("busy", one())).wait == pytest.approx(0.2)  # kept its state
    for i in range(50):
        await backend.reserve(f"k{i}", one())
    assert len(backend) == 3


async def test_a_booking_of_an_evicted_key_is_admitted_on_confirm() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock, max_keys=1)
    await backend.reserve("a", one())
    booking = await backend.reserve("a", one())
    await backend.reserve("b", one())  # "a" is busy but must go
    assert backend.busy_evictions == 1
    clock.advance(0.1)
    assert (await backend.confirm(booking)).wait == 0.0
    await backend.cancel(booking)


# -- the admission guard (real clocks wake callers late) ----------------------------------------


async def test_a_late_wake_cannot_squeeze_an_extra_admission_into_a_window() -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    limit = Limit("requests", 5.0)
    start = clock.now()
    bookings = [await backend.reserve("k", one(limit)) for _ in range(7)]  # 0, .2, ... 1.2
    clock.advance(0.25)  # booking 1 was due at 0.2 but its caller ran 50 ms late
    assert (await backend.confirm(bookings[1])).wait == 0.0
    for b in bookings[2:6]:  # on time: 0.4 .. 1.0
        clock.advance(start + b.wait - clock.now())
        assert (await backend.confirm(b)).wait == 0.0
    clock.advance(start + 1.2 - clock.now())
    # (0.2, 1.2] already holds 5 admissions (0.25 .. 1.0): the 6th waits for 0.25 to age
    # out, and a little more because that one ran late (its stamp is less certain).
    held = await backend.confirm(bookings[6])
    assert held.wait == pytest.approx(0.05 + GUARD_MARGIN)
    clock.advance(held.wait)
    assert (await backend.confirm(held)).wait == 0.0


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([2.0, 5.0, 10.0, 50.0]),
    capacity=st.sampled_from([1.0, 3.0]),
    amounts=st.lists(st.integers(1, 4), min_size=1, max_size=60),
    jitter=st.lists(st.floats(0.0, 0.05), min_size=60, max_size=60),
    cancel=st.sets(st.integers(0, 59), max_size=10),
)
def test_no_trailing_window_ever_holds_more_than_the_bound(
    rate: float,
    capacity: float,
    amounts: list[int],
    jitter: list[float],
    cancel: set[int],
) -> None:
    """Whatever the weights, cancellations and wake-up lateness, every admission
    sees at most ``rate + max(capacity, amount) - 1`` units in the trailing second."""
    asyncio.run(_window_bound(rate, capacity, amounts, jitter, cancel))


async def _window_bound(
    rate: float, capacity: float, amounts: list[int], jitter: list[float], cancel: set[int]
) -> None:
    clock = FakeClock()
    backend = MemoryLimiterBackend(clock=clock)
    limit = Limit("units", rate, capacity)
    waiting: list[tuple[float, int, Reservation, int]] = []
    admitted: list[tuple[float, int]] = []
    order: list[int] = []
    for i, amount in enumerate(amounts):
        booking = await backend.reserve("k", one(limit, amount))
        if i in cancel and booking.wait > 0:
            await backend.cancel(booking)
            continue
        if booking.wait == 0:
            admitted.append((clock.now(), amount))
            order.append(i)
        else:
            waiting.append((clock.now() + booking.wait + jitter[i], i, booking, amount))
        clock.advance(jitter[-1 - i] / 4)  # arrivals spread a little
    while waiting:
        waiting.sort()
        due, i, booking, amount = waiting.pop(0)
        if due > clock.now():
            clock.advance(due - clock.now())
        again = await backend.confirm(booking)
        if again.wait > 0:
            waiting.append((clock.now() + again.wait, i, again, amount))
            continue
        admitted.append((clock.now(), amount))
        order.append(i)
    for t, amount in admitted:
        inside = sum(a for s, a in admitted if t - 1.0 + 1e-9 < s <= t)
        size = max(capacity, amount)
        assert inside <= max(rate + size - 1, size) + 1e-6
    kept = [i for i in range(len(amounts)) if i not in cancel or i in order]
    assert sorted(order) == sorted(kept)  # nothing lost, nothing duplicated
    if not any(jitter[: len(amounts)]) and not cancel:
        assert order == list(range(len(amounts)))  # FIFO when everyone wakes on time
