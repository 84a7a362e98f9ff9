"""Breaker state behind a small async protocol, so one process or a whole fleet can share it.

The circuit breaker layer never decides a transition itself. It asks the store
for admission before an attempt and reports the outcome after it; the store
decides, in one atomic step, what the outcome does to the state. A shared store
(Redis, one Lua script per method) therefore has no read-modify-write race
between replicas, and the memory store has none between coroutines because
each method runs without awaiting.

The state machine is genguard's own (the same one runs as Lua in Redis), not
pybreaker's: pybreaker lets every caller through while half-open, measures its
reset timeout on the wall clock (``datetime.now``) rather than an injected
clock, has no failure-ratio window, and its ``call``/``calling`` hold a thread
lock across the guarded call and count cancellations as failures. The figures
are in docs/architecture.md ("Dependencies").
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..errors import ConfigError
from .resource import AsyncResource

BreakerState = Literal["closed", "open", "half_open"]
#: ``ignored`` outcomes (content blocks, bad requests, cancellations...) change nothing
#: except to free a half-open probe slot.
Outcome = Literal["success", "failure", "ignored"]

#: The consecutive-failure count that stands for "no such trigger" (also sent to Redis).
_NO_FAIL_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When to trip, how long to stay open, how carefully to probe.

    Passed with every store call, so the layer owns the policy and the store
    only the state (a Redis script takes it as arguments). The defaults are the
    production ones, each explained in ``docs/circuit-breaker.md``:

    - trip when ``failure_ratio`` (half) of the calls of the last ``window`` (30 s)
      failed, once there were ``min_calls`` (20) of them: a ratio over a window
      does not trip on a handful of slow responses among many good ones, which
      a consecutive count does at high concurrency; ``fail_max`` (consecutive
      failures) is an extra trigger, off unless set;
    - stay open ``reset_timeout`` (5 s) the first time, doubled after each failed
      probe up to ``max_reset_timeout`` (2 min), back to 5 s once a probe succeeds.
    """

    fail_max: int | None = None
    reset_timeout: float = 5.0
    half_open_probes: int = 1
    success_threshold: int = 1
    failure_ratio: float | None = 0.5
    window: float = 30.0
    min_calls: int = 20
    max_reset_timeout: float = 120.0

    def __post_init__(self) -> None:
        prefix = "circuit_breaker"
        for name in ("fail_max", "half_open_probes", "success_threshold", "min_calls"):
            value = getattr(self, name)
            if name == "fail_max" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{prefix}.{name}", f"must be an integer >= 1, got {value!r}")
        for name in ("reset_timeout", "window", "max_reset_timeout"):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(
                    f"{prefix}.{name}", f"must be a number of seconds > 0, got {value!r}"
                )
        ratio = self.failure_ratio
        if ratio is not None and (
            not isinstance(ratio, int | float) or not 0 < ratio <= 1 or isinstance(ratio, bool)
        ):
            raise ConfigError(f"{prefix}.failure_ratio", f"must be in (0, 1], got {ratio!r}")
        if ratio is None and self.fail_max is None:
            raise ConfigError(
                f"{prefix}.failure_ratio", "set failure_ratio, fail_max or both: nothing would trip"
            )

    @property
    def consecutive_limit(self) -> int:
        """``fail_max``, or a count never reached when consecutive counting is off."""
        return _NO_FAIL_MAX if self.fail_max is None else self.fail_max

    def break_for(self, trips: int) -> float:
        """How long the ``trips``-th consecutive opening lasts: doubled per failed probe,
        capped at ``max_reset_timeout`` (or ``reset_timeout`` if that is longer)."""
        exponent = min(max(0, trips - 1), 64)
        cap = max(self.max_reset_timeout, self.reset_timeout)
        return min(cap, self.reset_timeout * 2.0**exponent)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change and why (``consecutive_failures``, ``failure_ratio``,
    ``reset_timeout``, ``probe_failed``, ``probes_succeeded``, ``manual``)."""

    key: str
    old: BreakerState
    new: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class Permit:
    """Proof of admission, handed back with the outcome.

    ``epoch`` names the state period it was issued in: an outcome from an
    earlier period (a slow call admitted before the breaker opened) is stale
    and changes nothing. ``token`` is free for a shared store (e.g. a probe
    slot id with a lease).
    """

    key: str
    epoch: int
    probe: bool
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """The store's answer before an attempt: a permit, or a refusal with ``retry_after``.

    ``retry_after`` is a duration (seconds), never a timestamp, so callers never
    compare clocks of different processes.
    """

    permit: Permit | None
    state: BreakerState
    retry_after: float = 0.0
    transitions: tuple[Transition, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.permit is not None


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What the store knows about one key, for tests, health checks and the CLI."""

    key: str
    state: BreakerState
    consecutive_failures: int
    half_open_successes: int
    probes_in_flight: int
    window_calls: int
    window_failures: int
    retry_after: float


@runtime_checkable
class BreakerStore(Protocol):
    """Breaker state per key. Every method decides atomically; none blocks the loop.

    ``now`` is the caller's monotonic clock reading. The memory store works on
    that timeline; a shared store may keep its own (e.g. Redis ``TIME``) and
    must then answer in durations only. A shared store must also lease probe
    slots (a process can die holding one); the memory store needs no lease
    because the layer always reports back, even on cancellation.
    """

    async def acquire(self, key: str, policy: BreakerPolicy, now: float) -> Admission:
        """Admit an attempt (``closed``, or a free half-open probe slot) or refuse it.

        Moves ``open`` to ``half_open`` once ``reset_timeout`` has passed.
        """
        ...

    async def record(
        self, permit: Permit, outcome: Outcome, policy: BreakerPolicy, now: float
    ) -> tuple[Transition, ...]:
        """Apply the outcome of an admitted attempt; return the transitions it caused."""
        ...

    async def snapshot(self, key: str, policy: BreakerPolicy, now: float) -> BreakerSnapshot:
        """Read one key's state without changing it."""
        ...

    async def aclose(self) -> None:
        """Release connections (nothing to do in memory)."""
        ...


class SlidingWindow:
    """Calls and failures over the last ``span`` seconds, in ``buckets`` fixed slices.

    Memory is constant whatever the traffic (resilience4j's time-based window
    does the same). The oldest slice expires whole, so the window covers
    between ``span * (buckets - 1) / buckets`` and ``span`` seconds.
    """

    __slots__ = ("_calls", "_failures", "_ids", "buckets", "span", "width")

    def __init__(self, span: float, buckets: int = 20) -> None:
        if not span > 0 or buckets < 1:
            raise ValueError("span must be > 0 and buckets >= 1")
        self.span = span
        self.buckets = buckets
        self.width = span / buckets
        self._ids = [-1] * buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets

    def _slot(self, now: float) -> tuple[int, int]:
        bucket = math.floor(now / self.width)
        return bucket, bucket % self.buckets

    def add(self, now: float, failed: bool) -> None:
        bucket, slot = self._slot(now)
        if self._ids[slot] != bucket:
            self._ids[slot] = bucket
            self._calls[slot] = 0
            self._failures[slot] = 0
        self._calls[slot] += 1
        if failed:
            self._failures[slot] += 1

    def counts(self, now: float) -> tuple[int, int]:
        """``(calls, failures)`` in the window ending at ``now``."""
        current, _ = self._slot(now)
        oldest = current - self.buckets
        calls = failures = 0
        for slot, bucket in enumerate(self._ids):
            if oldest < bucket <= current:
                calls += self._calls[slot]
                failures += self._failures[slot]
        return calls, failures

    def clear(self) -> None:
        for slot in range(self.buckets):
            self._ids[slot] = -1
            self._calls[slot] = 0
            self._failures[slot] = 0


class _Entry:
    """One key's breaker: its state, its counters, and what the layer needs on top."""

    __slots__ = (
        "admitted",
        "epoch",
        "failures",
        "key",
        "opened_at",
        "pending",
        "probes",
        "state",
        "successes",
        "trips",
        "window",
    )

    def __init__(self, key: str, policy: BreakerPolicy) -> None:
        self.key = key
        self.state: BreakerState = "closed"
        #: Consecutive failures while closed (kept while open, cleared on closing).
        self.failures = 0
        #: Successful probes while half-open (cleared on every transition).
        self.successes = 0
        #: Bumped on every transition: outcomes of permits from an earlier period are stale.
        self.epoch = 0
        self.probes = 0
        self.opened_at = 0.0
        #: Openings since the breaker last closed (the break doubles with each).
        self.trips = 0
        self.pending: list[Transition] = []
        self.window: SlidingWindow | None = None
        #: The admission of this closed period (immutable, so every caller shares it).
        self.admitted: Admission | None = None

    def apply(self, policy: BreakerPolicy) -> None:
        """Follow the caller's policy (the window is rebuilt if resized)."""
        if policy.failure_ratio is None:
            self.window = None
        elif self.window is None or self.window.span != policy.window:
            self.window = SlidingWindow(policy.window)

    def move(self, target: BreakerState, reason: str, now: float) -> None:
        old = self.state
        self.state = target
        self.successes = 0
        if target == "open":
            self.opened_at = now
            self.trips = self.trips + 1 if reason == "probe_failed" else 1
        elif target == "closed":
            self.failures = 0
            self.trips = 0
            if self.window is not None:
                self.window.clear()
        self.epoch += 1
        self.probes = 0
        self.pending.append(Transition(self.key, old, target, reason))

    def drain(self) -> tuple[Transition, ...]:
        if not self.pending:
            return ()
        out = tuple(self.pending)
        self.pending.clear()
        return out

    def retry_after(self, policy: BreakerPolicy, now: float) -> float:
        if self.state != "open":
            return 0.0
        return max(0.0, self.opened_at + policy.break_for(self.trips) - now)


class MemoryBreakerStore(AsyncResource):
    """In-process breaker state: one state machine per key, at most ``max_keys`` of them.

    When full, the least recently used key is forgotten, preferring one that is
    closed with no probe in flight (forgetting an open breaker would let
    traffic through to a sick backend). Not shared between processes.
    """

    #: How many of the least recently used keys to look through for an idle one.
    EVICTION_SCAN = 64

    def __init__(self, *, max_keys: int = 10_000) -> None:
        if not isinstance(max_keys, int) or max_keys < 1:
            raise ConfigError(
                "circuit_breaker.max_keys", f"must be an integer >= 1, got {max_keys!r}"
            )
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, key: str, policy: BreakerPolicy) -> _Entry:
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            if len(entries) >= self.max_keys:
                self._evict()
            entry = entries[key] = _Entry(key, policy)
        else:
            entries.move_to_end(key)
        entry.apply(policy)
        return entry

    def _evict(self) -> None:
        entries = self._entries
        victim = next(iter(entries))
        for scanned, (key, entry) in enumerate(entries.items()):
            if scanned >= self.EVICTION_SCAN:
                break
            if entry.probes == 0 and entry.state == "closed":
                victim = key
                break
        del entries[victim]
        self.evictions += 1

    async def acquire(self, key: str, policy: BreakerPolicy, now: float) -> Admission:
        entry = self._entry(key, policy)
        state = entry.state
        if state == "open":
            wait = entry.retry_after(policy, now)
            if wait > 0:
                return Admission(None, "open", wait, entry.drain())
            entry.move("half_open", "reset_timeout", now)
            state = "half_open"
        if state == "half_open":
            if entry.probes >= policy.half_open_probes:
                return Admission(None, "half_open", 0.0, entry.drain())
            entry.probes += 1
            return Admission(Permit(key, entry.epoch, True), "half_open", 0.0, entry.drain())
        transitions = entry.drain()
        if transitions:
            return Admission(Permit(key, entry.epoch, False), "closed", 0.0, transitions)
        admitted = entry.admitted
        if admitted is None or admitted.permit is None or admitted.permit.epoch != entry.epoch:
            admitted = entry.admitted = Admission(Permit(key, entry.epoch, False), "closed")
        return admitted

    async def record(
        self, permit: Permit, outcome: Outcome, policy: BreakerPolicy, now: float
    ) -> tuple[Transition, ...]:
        entry = self._entries.get(permit.key)
        if entry is None or entry.epoch != permit.epoch:
            return ()  # forgotten key, or the state moved on since this permit was issued
        entry.apply(policy)
        if permit.probe:
            entry.probes = max(0, entry.probes - 1)
            if outcome == "failure":
                entry.move("open", "probe_failed", now)
            elif outcome == "success":
                entry.successes += 1
                if entry.successes >= policy.success_threshold:
                    entry.move("closed", "probes_succeeded", now)
            return entry.drain()
        if outcome == "ignored" or entry.state != "closed":
            return ()
        failed = outcome == "failure"
        if entry.window is not None:
            entry.window.add(now, failed)
        if not failed:
            entry.failures = 0
            return ()
        entry.failures += 1
        if entry.failures >= policy.consecutive_limit:
            entry.move("open", "consecutive_failures", now)
        elif entry.window is not None and policy.failure_ratio is not None:
            calls, failures = entry.window.counts(now)
            if calls >= policy.min_calls and failures >= policy.failure_ratio * calls:
                entry.move("open", "failure_ratio", now)
        return entry.drain()

    async def snapshot(self, key: str, policy: BreakerPolicy, now: float) -> BreakerSnapshot:
        entry = self._entries.get(key)
        if entry is None:
            return BreakerSnapshot(key, "closed", 0, 0, 0, 0, 0, 0.0)
        calls, failures = entry.window.counts(now) if entry.window is not None else (0, 0)
        return BreakerSnapshot(
            key=key,
            state=entry.state,
            consecutive_failures=entry.failures,
            half_open_successes=entry.successes,
            probes_in_flight=entry.probes,
            window_calls=calls,
            window_failures=failures,
            retry_after=entry.retry_after(policy, now),
        )

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"MemoryBreakerStore(keys={len(self._entries)}, max_keys={self.max_keys})"


__all__ = [
    "Admission",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "MemoryBreakerStore",
    "Outcome",
    "Permit",
    "SlidingWindow",
    "Transition",
]
