"""Rate-limit state behind a small async protocol, and the in-memory backend.

The protocol is **reservation-based**: ``reserve`` books the caller's slot at
once (FIFO by arrival, whatever the weight) and says how long to wait, so a
caller sleeps exactly once instead of polling; ``cancel`` gives an unused slot
back; ``pause`` freezes a key's schedule for every caller after a server 429.
A Redis backend implements the same four calls with one atomic script each
(GCRA: a per-limit "theoretical arrival time" is the whole state).

The memory backend keeps one leaky ``Bucket`` per limit as its accounting,
driven by an injected ``Clock``; see ``docs/rate-limit.md`` for why it is not
aiolimiter's.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from ..clock import Clock, SystemClock
from .resource import AsyncResource

#: The trailing window (seconds) the admission guard holds to the declared rate.
WINDOW = 1.0
#: An admission that ran late (a real clock woke its caller after its slot) is held
#: in the trailing window this much longer (50 us), so the bound also holds for a
#: clock read a few microseconds after the admission, by the code the caller runs
#: next. On-time admissions (always, on a fake clock) are held exactly ``WINDOW``.
GUARD_MARGIN = 0.00005
#: Waits shorter than this are float noise, not waits.
EPSILON = 1e-9
#: How many of the least recently used keys are examined for an idle one to drop.
_EVICTION_SCAN = 16

Reason = Literal["rate", "paused"]


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket of a key: ``rate`` units per second, ``capacity`` units admissible at once.

    ``capacity`` 1 means no burst: admissions are spaced evenly at the rate. A
    request larger than ``capacity`` is admitted once the bucket is empty.
    """

    name: str
    rate: float
    capacity: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"limit {self.name!r}: rate must be > 0, got {self.rate!r}")
        if not (math.isfinite(self.capacity) and self.capacity >= 1):
            raise ValueError(f"limit {self.name!r}: capacity must be >= 1, got {self.capacity!r}")


class Demand(NamedTuple):
    """How much of ``limit`` one attempt takes (1 request, n images, estimated tokens)."""

    limit: Limit
    amount: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer to ``reserve``/``confirm``.

    ``granted`` False means the slot lies beyond ``max_wait`` and nothing was
    taken. Otherwise the caller sleeps ``wait`` seconds and calls ``confirm``;
    ``wait`` 0 means admitted now. ``reason`` says what the wait is for.
    ``token`` is the backend's own handle for ``confirm``/``cancel``.
    """

    key: str
    granted: bool
    wait: float
    reason: Reason = "rate"
    token: object = field(default=None, repr=False, compare=False)


@runtime_checkable
class LimiterBackend(Protocol):
    """Where rate-limit state lives. Every call is atomic for its key.

    Times cross this boundary as *relative seconds*, never as timestamps, so
    processes whose monotonic clocks differ can share one backend.
    """

    async def reserve(
        self, key: str, demands: Sequence[Demand], *, max_wait: float | None = None
    ) -> Reservation:
        """Book the next slot for ``demands`` on ``key`` (behind every earlier booking).

        If the slot is more than ``max_wait`` seconds away, take nothing and
        return ``granted=False`` with the wait it would have been.
        """
        ...

    async def confirm(self, reservation: Reservation) -> Reservation:
        """The caller woke up: 0 wait means go (and the admission is final);
        a positive wait means the key was paused meanwhile, sleep again."""
        ...

    async def cancel(self, reservation: Reservation) -> None:
        """The caller gave up before its slot: give back what it took. Idempotent;
        a no-op for an admitted or refused reservation."""
        ...

    async def pause(self, key: str, seconds: float) -> float:
        """Hold ``key`` for everyone for ``seconds`` (never shortens a longer pause).

        Bookings already made move back so the first starts when the pause ends,
        keeping their order and spacing.
        Returns the seconds until the pause ends.
        """
        ...

    async def paused_for(self, key: str) -> float:
        """Seconds until ``key``'s pause ends (0.0 when it is not paused)."""
        ...

    async def aclose(self) -> None:
        """Release connections (nothing to do for memory)."""
        ...


class Bucket:
    """A leaky bucket on a genguard ``Clock``: ``capacity`` units, draining at ``rate`` per second.

    Pure accounting: it never sleeps and orders no waiters (the backend books
    slots FIFO and the caller sleeps once). The level may exceed ``capacity``:
    the excess is booked future capacity, which is what makes reservations FIFO.
    A request larger than ``capacity`` fits once the bucket is empty.

    genguard's own, not ``aiolimiter.AsyncLimiter``: aiolimiter reads the event
    loop's clock, starts full (``AsyncLimiter(50, 1)`` admits 99 in its first
    second) and serves small requests before a waiting large one; its public API
    offers no way to book a slot or drive it from an injected clock. The figures
    are in docs/architecture.md ("Dependencies").
    """

    __slots__ = ("_checked", "_clock", "_level", "capacity", "rate")

    def __init__(self, limit: Limit, clock: Clock) -> None:
        self.rate = limit.rate
        self.capacity = limit.capacity
        self._clock = clock
        self._level = 0.0
        self._checked = clock.now()

    def _leak(self, now: float | None = None) -> float:
        """Drain what flowed out since the last look (``elapsed * rate``); the level now.
        ``now``: the clock's time when the caller has just read it."""
        if now is None:
            now = self._clock.now()
        elapsed = now - self._checked
        if elapsed > 0:
            self._level = max(0.0, self._level - elapsed * self.rate)
        self._checked = now
        return self._level

    def level(self) -> float:
        """Units in the bucket now, booked future units included."""
        return self._leak()

    def has_capacity(self, amount: float = 1.0) -> bool:
        """Whether ``amount`` fits now without waiting."""
        return self._leak() + amount <= max(self.capacity, amount)

    def free_at(self) -> float:
        """When the bucket is empty (GCRA's theoretical arrival time)."""
        level = self._leak()
        return self._checked + level / self.rate

    def set_free_at(self, when: float) -> None:
        self._leak()
        self._level = max(0.0, (when - self._checked) * self.rate)

    def wait_for(self, amount: float, now: float | None = None) -> float:
        """Seconds until ``amount`` fits (a request larger than the bucket fits once it is
        empty)."""
        needed = amount - max(self.capacity, amount) + self._leak(now)
        return max(0.0, needed / self.rate)

    def give_back(self, amount: float) -> None:
        """Return ``amount`` booked units (an admitted attempt that produced nothing)."""
        self._level = max(0.0, self._leak() - amount)

    def take(self, amount: float, start_in: float, now: float | None = None) -> None:
        """Book ``amount`` for admission ``start_in`` seconds from now."""
        self._level = max(self._leak(now), start_in * self.rate) + amount

    def __repr__(self) -> str:
        return f"Bucket(rate={self.rate:g}, capacity={self.capacity:g}, level={self.level():.3g})"


class _Entry:
    """A booking, kept until admitted or cancelled so the tail can be rolled back."""

    __slots__ = ("cancelled", "demands", "done", "key", "prev", "shift_at", "start", "state")

    def __init__(
        self,
        key: str,
        state: _KeyState,
        start: float,
        demands: tuple[Demand, ...],
        prev: dict[str, float],
    ) -> None:
        self.key = key
        self.state = state
        self.start = start
        self.shift_at = state.shift
        self.demands = demands
        self.prev = prev
        self.done = False
        self.cancelled = False

    def effective_start(self) -> float:
        return self.start + (self.state.shift - self.shift_at)


class _Log:
    """Admissions of one limit in the trailing window: (time, amount, held until)."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, float, float]] = deque()
        self.total = 0.0

    def expire(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0][2] <= now + EPSILON:
            self.total -= entries.popleft()[1]
        if not entries:
            self.total = 0.0

    def add(self, now: float, amount: float, late: bool) -> None:
        self.entries.append((now, amount, now + WINDOW + (GUARD_MARGIN if late else 0.0)))
        self.total += amount


class _KeyState:
    __slots__ = ("buckets", "logs", "paused_until", "pending", "shift")

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.logs: dict[str, _Log] = {}
        self.pending: deque[_Entry] = deque()
        self.paused_until = -math.inf
        self.shift = 0.0


class MemoryLimiterBackend(AsyncResource):
    """Per-process limiter state: one set of buckets per key, at most ``max_keys`` keys.

    When a new key would exceed ``max_keys``, an idle key (nothing booked,
    buckets drained, not paused) among the least recently used is dropped; if
    none is idle the least recently used key is dropped anyway (counted in
    ``busy_evictions``), so memory stays bounded whatever the key cardinality.
    """

    def __init__(self, *, clock: Clock | None = None, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.clock: Clock = clock or SystemClock()
        self.max_keys = max_keys
        self.busy_evictions = 0
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    # -- the protocol --------------------------------------------------------------------------
    async def reserve(
        self, key: str, demands: Sequence[Demand], *, max_wait: float | None = None
    ) -> Reservation:
        now = self.clock.now()
        state = self._state(key, now)
        self._prune(state, now)
        wanted = demands if type(demands) is tuple else tuple(demands)
        for demand in wanted:
            if not demand.amount > 0:
                wanted = tuple(d for d in wanted if d.amount > 0)
                break
        wait = max(0.0, state.paused_until - now)
        reason: Reason = "paused" if wait > EPSILON else "rate"
        for limit, amount in wanted:
            needed = self._bucket(state, limit).wait_for(amount, now)
            if needed > wait + EPSILON:
                wait, reason = needed, "rate"
        if wait <= EPSILON:
            wait = self._guard_wait(state, wanted, now)
        if wait <= EPSILON:
            wait = 0.0
        if max_wait is not None and wait > max_wait:
            return Reservation(key, False, wait, reason)
        buckets = state.buckets
        if wait == 0.0:
            # Admitted now: nothing can cancel it, so no roll-back point is kept.
            for limit, amount in wanted:
                buckets[limit.name].take(amount, 0.0, now)
            entry = _Entry(key, state, now, wanted, {})
            self._admit(entry, now)
            return Reservation(key, True, 0.0, reason, entry)
        prev: dict[str, float] = {}
        for limit, amount in wanted:
            bucket = buckets[limit.name]
            prev[limit.name] = bucket.free_at()
            bucket.take(amount, wait)
        entry = _Entry(key, state, now + wait, wanted, prev)
        state.pending.append(entry)
        return Reservation(key, True, wait, reason, entry)

    async def confirm(self, reservation: Reservation) -> Reservation:
        entry = reservation.token
        if not isinstance(entry, _Entry) or entry.done or entry.cancelled:
            return Reservation(reservation.key, reservation.granted, 0.0, "rate", entry)
        now = self.clock.now()
        if self._keys.get(entry.key) is not entry.state:  # the key was evicted meanwhile
            entry.done = True
            return Reservation(entry.key, True, 0.0, "rate", entry)
        wait = max(entry.effective_start(), entry.state.paused_until) - now
        reason: Reason = "paused" if entry.state.shift != entry.shift_at else "rate"
        if wait <= EPSILON:
            wait = self._guard_wait(entry.state, entry.demands, now)
            reason = "rate"
        if wait > EPSILON:
            return Reservation(entry.key, True, wait, reason, entry)
        self._admit(entry, now)
        self._prune(entry.state)
        return Reservation(entry.key, True, 0.0, reason, entry)

    async def cancel(self, reservation: Reservation) -> None:
        entry = reservation.token
        if not isinstance(entry, _Entry) or entry.done or entry.cancelled:
            return
        entry.cancelled = True
        state = entry.state
        if self._keys.get(entry.key) is not state:
            return
        # Roll back every cancelled booking at the tail, newest first: their slots
        # were booked after everything still waiting, so nobody else relies on them.
        # A cancelled booking in the middle stays a hole: moving the sleepers behind
        # it forward is not possible, and re-booking it would over-admit.
        pending = state.pending
        shift = state.shift
        while pending and pending[-1].cancelled:
            last = pending.pop()
            for name, free_at in last.prev.items():
                state.buckets[name].set_free_at(free_at + (shift - last.shift_at))

    async def refund(self, key: str, demands: Sequence[Demand]) -> None:
        """Give back what an admitted attempt took when the provider refused it (nothing
        was generated): later bookings of ``key`` may start that much sooner."""
        state = self._keys.get(key)
        if state is None:
            return
        for limit, amount in demands:
            bucket = state.buckets.get(limit.name)
            if bucket is not None and amount > 0:
                bucket.give_back(amount)

    async def pause(self, key: str, seconds: float) -> float:
        now = self.clock.now()
        state = self._state(key, now)
        self._prune(state)
        until = now + max(0.0, seconds)
        if until > state.paused_until + EPSILON:
            state.paused_until = until
            # Move the queue back so its head starts when the pause ends; the
            # bookings behind keep their spacing, so the key resumes at its rate.
            shift = max(0.0, until - state.pending[0].effective_start()) if state.pending else 0.0
            state.shift += shift
            for bucket in state.buckets.values():
                bucket.set_free_at(max(bucket.free_at() + shift, until))
        return max(0.0, state.paused_until - now)

    async def paused_for(self, key: str) -> float:
        state = self._keys.get(key)
        if state is None:
            return 0.0
        return max(0.0, state.paused_until - self.clock.now())

    async def aclose(self) -> None:
        self._keys.clear()

    # -- internals -----------------------------------------------------------------------------
    def _state(self, key: str, now: float) -> _KeyState:
        keys = self._keys
        state = keys.get(key)
        if state is not None:
            keys.move_to_end(key)
            return state
        if len(keys) >= self.max_keys:
            self._evict(now)
        state = keys[key] = _KeyState()
        return state

    def _evict(self, now: float) -> None:
        keys = self._keys
        for index, (name, state) in enumerate(keys.items()):
            if index >= _EVICTION_SCAN:
                break
            if self._idle(state, now):
                del keys[name]
                return
        keys.popitem(last=False)
        self.busy_evictions += 1

    def _idle(self, state: _KeyState, now: float) -> bool:
        self._prune(state)
        if state.pending or state.paused_until > now:
            return False
        if any(b.free_at() > now + EPSILON for b in state.buckets.values()):
            return False
        for log in state.logs.values():
            log.expire(now)
            if log.entries:
                return False
        return True

    def _bucket(self, state: _KeyState, limit: Limit) -> Bucket:
        bucket = state.buckets.get(limit.name)
        if bucket is None or bucket.rate != limit.rate or bucket.capacity != limit.capacity:
            fresh = Bucket(limit, self.clock)
            if bucket is not None:  # the limit was reconfigured: keep what is booked
                fresh.set_free_at(bucket.free_at())
            bucket = state.buckets[limit.name] = fresh
        return bucket

    def _prune(self, state: _KeyState, now: float | None = None) -> None:
        """Forget bookings at the head that were admitted, cancelled or are due."""
        pending = state.pending
        if not pending:
            return
        if now is None:
            now = self.clock.now()
        while pending and (
            pending[0].done or pending[0].cancelled or pending[0].effective_start() <= now
        ):
            pending.popleft()

    def _admit(self, entry: _Entry, now: float) -> None:
        entry.done = True
        state = entry.state
        late = now > max(entry.effective_start(), state.paused_until) + EPSILON
        for limit, amount in entry.demands:
            log = state.logs.get(limit.name)
            if log is None:
                log = state.logs[limit.name] = _Log()
            log.add(now, amount, late)

    @staticmethod
    def _guard_wait(state: _KeyState, demands: Sequence[Demand], now: float) -> float:
        """Extra wait so the trailing ``WINDOW`` never holds more than the bucket allows.

        Bookings are spaced exactly, but callers wake a little late, and an early
        caller waking later than the one a window behind it would squeeze one extra
        admission into that window. This holds the bound on actual admission times.
        """
        wait = 0.0
        for limit, amount in demands:
            log = state.logs.get(limit.name)
            if log is None:
                continue
            log.expire(now)
            size = max(limit.capacity, amount)
            cap = max(limit.rate * WINDOW + size - 1.0, size)
            excess = log.total + amount - cap
            if excess <= EPSILON:
                continue
            dropped = 0.0
            until = now
            for _, taken, held_until in log.entries:
                dropped += taken
                until = max(until, held_until)
                if dropped >= excess - EPSILON:
                    wait = max(wait, until - now)
                    break
        return wait if wait > EPSILON else 0.0

    def __repr__(self) -> str:
        return f"MemoryLimiterBackend(keys={len(self._keys)}, max_keys={self.max_keys})"


__all__ = [
    "EPSILON",
    "GUARD_MARGIN",
    "WINDOW",
    "Bucket",
    "Demand",
    "Limit",
    "LimiterBackend",
    "MemoryLimiterBackend",
    "Reason",
    "Reservation",
]
