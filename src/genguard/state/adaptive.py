"""What the rate-limit layer learns from the server: a rate, throttling, spent quotas.

Three small per-key memories, all driven by times passed in (the call's clock),
so tests run them on a ``FakeClock``:

- ``AdaptiveRate``: a rate that backs off multiplicatively and probes upward, the
  scheme of TCP congestion control and of the AWS SDKs' adaptive retry mode. A
  throttle cuts the key's rate to ``DECREASE`` of what it was. While the rate holds
  callers back and they succeed, it grows with time: doubling every second after
  the first estimate ("slow start", as that estimate is made from a second of
  traffic and is usually low), then ``GROWTH`` (10%) per second once a second cut
  showed where the server's limit is. Only the first throttle of attempts sent
  *after* the last cut counts, so a burst of 429s from one overshoot cuts once.
  With a configured ceiling, the rate only ever goes below it.
- ``ThrottleWindow``: 429s and answers per key over the last ``span`` seconds,
  so "many 429s across calls in a short window" is a measured fact.
- ``QuotaLedger``: keys whose quota is spent, and until when, so the key refuses
  locally instead of sending requests the provider will refuse.

Per process; a fleet shares spent quotas through the limiter backend's pause.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from ..clock import Clock

#: A throttle cuts the rate to this share of itself (the AWS SDKs' beta is 0.7).
DECREASE = 0.7
#: Growth per second while the rate is the bottleneck and calls succeed...
GROWTH = 1.1
#: ...and before the limit was found twice (slow start).
SLOW_START = 2.0
#: Growth is measured over at most this long a gap, so an idle key does not jump.
_MAX_GAP = 1.0
#: The learned rate never goes below one request a minute.
MIN_RATE = 1.0 / 60.0
#: Learned rates are rounded to 1% steps, so the limiter's buckets are not rebuilt
#: on every success.
_STEP = math.log(1.01)
#: Time zone whose midnight resets Gemini per-day quotas.
PACIFIC = "America/Los_Angeles"


def quantize(rate: float) -> float:
    """``rate`` rounded to a 1% geometric step (deterministic, monotonic)."""
    return math.exp(round(math.log(rate) / _STEP) * _STEP)


@dataclass(slots=True)
class _Learned:
    rate: float | None
    cut_at: float
    cuts: int = 0
    grown_at: float = -math.inf
    slow_start: bool = True
    grew: bool = False


class AdaptiveRate:
    """AIMD request rate per key; ``None`` means "no rate known yet, do not limit"."""

    def __init__(self, *, ceiling: float | None = None, max_keys: int = 10_000) -> None:
        self.ceiling = ceiling
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Learned] = OrderedDict()

    def rate(self, key: str) -> float | None:
        """The rate to enforce on ``key`` now (requests/s), or None for no limit."""
        learned = self.learned(key)
        return self.ceiling if learned is None else learned

    def learned(self, key: str) -> float | None:
        """The learned rate of ``key`` (at most the ceiling), or None before any throttle."""
        learned = self._keys.get(key)
        if learned is None or learned.rate is None:
            return None
        if self.ceiling is not None and learned.rate >= self.ceiling:
            return self.ceiling
        return quantize(learned.rate)

    def cuts(self, key: str) -> int:
        learned = self._keys.get(key)
        return 0 if learned is None else learned.cuts

    def throttled(self, key: str, now: float, sent_at: float, observed: float) -> float | None:
        """A quota-shaped 429 for an attempt sent at ``sent_at``: cut the rate once.

        ``observed`` is how many requests the key sent in the last second, the
        starting point when no rate is known yet. Returns the new rate, or None
        when this throttle belongs to a burst already answered by a cut.
        """
        learned = self._entry(key)
        if sent_at <= learned.cut_at:
            return None
        base = learned.rate if learned.rate is not None else self.ceiling
        if base is None:
            base = max(observed, MIN_RATE / DECREASE)
        elif learned.grew:
            learned.slow_start = False  # a rate reached by growing was too high: the limit is near
        learned.grew = False
        new = max(MIN_RATE, base * DECREASE)
        if self.ceiling is not None:
            new = min(new, self.ceiling)
        learned.rate = new
        learned.cut_at = now
        learned.grown_at = now
        learned.cuts += 1
        return new

    def succeeded(self, key: str, now: float, limited: bool) -> None:
        """An attempt succeeded; ``limited`` says whether the rate made it wait."""
        learned = self._keys.get(key)
        if learned is None or learned.rate is None:
            return
        gap = min(_MAX_GAP, max(0.0, now - learned.grown_at))
        learned.grown_at = now
        if not limited or gap <= 0:
            return
        growth = SLOW_START if learned.slow_start else GROWTH
        rate = learned.rate * growth**gap
        learned.grew = True
        if self.ceiling is not None:
            rate = min(rate, self.ceiling)
        learned.rate = rate

    def _entry(self, key: str) -> _Learned:
        keys = self._keys
        learned = keys.get(key)
        if learned is None:
            if len(keys) >= self.max_keys:
                keys.popitem(last=False)
            learned = keys[key] = _Learned(None, -math.inf)
        else:
            keys.move_to_end(key)
        return learned


class ThrottleWindow:
    """Answers and 429s per key over the last ``span`` seconds.

    ``storm`` says whether 429s came from many calls at once: at least
    ``min_429s`` of them, making at least ``share`` of at least ``min_answers``
    answers. A server that refuses 30% of requests at random never reaches it;
    one that is being sent twice its rate does within a second.

    ``min_answers`` guards the share against small samples: Retry-After dates
    have one-second resolution, so every caller refused in the same second
    retries at the same instant, and between those waves a window may hold only
    a dozen or two answers. Twelve 429s in twenty answers happen by chance at a
    30% refusal rate often enough to fire within a few hundred calls (measured:
    the tuned stack under the random-429 fault, one run in three), and a false
    storm cuts the rate and pauses the key for every caller. Eighteen in thirty
    does not (p < 0.001 per window).
    """

    def __init__(
        self,
        *,
        span: float = 2.0,
        min_429s: int = 10,
        share: float = 0.6,
        min_answers: int = 30,
        max_keys: int = 10_000,
    ) -> None:
        self.span = span
        self.min_429s = min_429s
        self.share = share
        self.min_answers = min_answers
        self.max_keys = max_keys
        self._keys: OrderedDict[str, deque[tuple[float, bool]]] = OrderedDict()

    def add(self, key: str, now: float, throttled: bool) -> None:
        keys = self._keys
        events = keys.get(key)
        if events is None:
            if len(keys) >= self.max_keys:
                keys.popitem(last=False)
            events = keys[key] = deque()
        else:
            keys.move_to_end(key)
        events.append((now, throttled))
        horizon = now - self.span
        while events and events[0][0] <= horizon:
            events.popleft()

    def storm(self, key: str) -> bool:
        events = self._keys.get(key)
        if not events:
            return False
        if len(events) < self.min_answers:
            return False
        throttled = sum(1 for _, t in events if t)
        return throttled >= self.min_429s and throttled >= self.share * len(events)

    def throttled_share(self, key: str) -> float:
        """The share of the window's answers that were 429s (0.0 without answers)."""
        events = self._keys.get(key)
        if not events:
            return 0.0
        return sum(1 for _, t in events if t) / len(events)

    def sent_last_second(self, key: str, now: float) -> float:
        """Answers in the last second (a lower bound on what the key was sending)."""
        events = self._keys.get(key)
        if not events:
            return 0.0
        return float(sum(1 for t, _ in events if t > now - 1.0))


@dataclass(frozen=True, slots=True)
class Spent:
    """A key's quota is used up until ``until`` (monotonic, the call's clock)."""

    until: float
    why: str
    code: str | None = None
    provider: str | None = None


class QuotaLedger:
    """Keys whose quota is spent. Bounded: the oldest entry goes first."""

    def __init__(self, *, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, Spent] = OrderedDict()

    def spend(self, key: str, spent: Spent) -> None:
        keys = self._keys
        old = keys.get(key)
        if old is not None and old.until >= spent.until:
            return
        if old is None and len(keys) >= self.max_keys:
            keys.popitem(last=False)
        keys[key] = spent

    def spent_on(self, key: str, clock: Clock) -> Spent | None:
        """``spent(key, clock.now())``, reading the clock only when ``key`` is held."""
        if key not in self._keys:
            return None
        return self.spent(key, clock.now())

    def spent(self, key: str, now: float) -> Spent | None:
        entry = self._keys.get(key)
        if entry is None:
            return None
        if entry.until <= now:
            del self._keys[key]
            return None
        return entry


def seconds_to_pacific_midnight(wall: float) -> float:
    """Seconds from ``wall`` (epoch seconds) to the next midnight in Pacific time.

    Gemini's per-day quotas reset then. Without time-zone data the standard-time
    offset (UTC-8) is used: in summer that is an hour late, never early.
    """
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:  # pragma: no cover - always present on 3.11
        zone: _dt.tzinfo = _dt.timezone(_dt.timedelta(hours=-8))
    else:
        try:
            zone = ZoneInfo(PACIFIC)
        except ZoneInfoNotFoundError:  # pragma: no cover - depends on the host
            zone = _dt.timezone(_dt.timedelta(hours=-8))
    try:
        now = _dt.datetime.fromtimestamp(wall, zone)
        tomorrow = (now + _dt.timedelta(days=1)).date()
        midnight = _dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    except (OverflowError, OSError, ValueError):  # a clock far outside the calendar
        return 86_400.0
    return min(86_400.0 + 3_600.0, max(1.0, midnight.timestamp() - wall))


__all__ = [
    "DECREASE",
    "GROWTH",
    "MIN_RATE",
    "PACIFIC",
    "SLOW_START",
    "AdaptiveRate",
    "QuotaLedger",
    "Spent",
    "ThrottleWindow",
    "quantize",
    "seconds_to_pacific_midnight",
]
