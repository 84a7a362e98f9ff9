"""A retry budget: retries may be at most a fraction of recent calls, plus a small floor.

Backoff spaces out one caller's retries; it does nothing about the *sum* of
retries when every caller is failing at once. Without a budget, an outage with
4 attempts per call quadruples the load on a provider that is already down.
This is the budget of Finagle (``RetryBudget``), Envoy (retry budgets) and gRPC
(retry throttling): over a sliding window of ``ttl`` seconds, per partition key,

    retries <= ratio * calls + min_per_s * ttl

so upstream requests stay below ``(1 + ratio) * calls + min_per_s * ttl``
however bad the outage. ``min_per_s`` keeps a trickle of retries available to a
quiet client, whose handful of calls would otherwise earn no retry at all.

Time is passed in (``now`` from the call's clock), so the budget needs no clock
of its own and tests drive it with a ``FakeClock``. One process, one budget:
share a ``RetryBudget`` instance between layers that should draw on the same pot.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """Counts for one key over the last ``ttl`` seconds, and what they allow."""

    calls: float
    retries: float
    allowed: float

    @property
    def available(self) -> float:
        return max(0.0, self.allowed - self.retries)


class _Window:
    """Times of the calls and retries of one key within the last ``ttl`` seconds.

    Exact rather than bucketed, so the guarantee is exact; memory is one float per
    call in the window, which is small at the rates image APIs allow.
    """

    __slots__ = ("calls", "last", "retries")

    def __init__(self) -> None:
        self.calls: deque[float] = deque()
        self.retries: deque[float] = deque()
        self.last = -math.inf

    def expire(self, horizon: float) -> None:
        calls, retries = self.calls, self.retries
        while calls and calls[0] <= horizon:
            calls.popleft()
        while retries and retries[0] <= horizon:
            retries.popleft()


class RetryBudget:
    """Per-key sliding-window budget: ``retries <= ratio * calls + min_per_s * ttl``.

    ``ratio`` (default 0.2): retries allowed per call made, as Finagle's default.
    ``min_per_s`` (default 1.0): a floor of retries per second per key, so a client
    doing one call a minute can still retry it. ``ttl`` (default 10 s): how far back
    "recent" reaches. ``max_keys`` bounds memory when keys come from tenants.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_s: float = 1.0,
        ttl: float = 10.0,
        max_keys: int = 10_000,
    ) -> None:
        _check(ratio, "retry.budget.ratio", low=0.0)
        _check(min_per_s, "retry.budget.min_per_s", low=0.0)
        _check(ttl, "retry.budget.ttl", low=0.0, strict=True)
        if not isinstance(max_keys, int) or isinstance(max_keys, bool) or max_keys < 1:
            raise ConfigError("retry.budget.max_keys", f"must be an integer >= 1, got {max_keys!r}")
        self.ratio = float(ratio)
        self.min_per_s = float(min_per_s)
        self.ttl = float(ttl)
        self.max_keys = max_keys
        self._reserve = self.min_per_s * self.ttl
        self._windows: dict[str, _Window] = {}

    def _window(self, key: str, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_keys:
                self._evict(now)
            window = self._windows[key] = _Window()
        window.expire(now - self.ttl)
        window.last = max(window.last, now)
        return window

    def _evict(self, now: float) -> None:
        horizon = now - self.ttl
        for key in [k for k, w in self._windows.items() if w.last <= horizon]:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:
            # Every key is active: drop the least recently used one rather than grow.
            oldest = min(self._windows, key=lambda k: self._windows[k].last)
            del self._windows[oldest]

    def record_call(self, key: str, now: float) -> None:
        """A call started (its first attempt): it earns ``ratio`` retries for the window."""
        self._window(key, now).calls.append(now)

    def try_retry(self, key: str, now: float) -> bool:
        """Spend one retry if the window allows it; False means the budget is spent."""
        window = self._window(key, now)
        if len(window.retries) + 1 > self.ratio * len(window.calls) + self._reserve + 1e-9:
            return False
        window.retries.append(now)
        return True

    def snapshot(self, key: str, now: float) -> BudgetSnapshot:
        """Current counts for ``key`` (for tests, metrics and the docs' figures)."""
        window = self._windows.get(key)
        if window is None:
            return BudgetSnapshot(0.0, 0.0, self._reserve)
        horizon = now - self.ttl
        calls = sum(1 for t in window.calls if t > horizon)
        retries = sum(1 for t in window.retries if t > horizon)
        return BudgetSnapshot(float(calls), float(retries), self.ratio * calls + self._reserve)

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio:g}, min_per_s={self.min_per_s:g}, ttl={self.ttl:g})"


def _check(value: object, path: str, *, low: float, strict: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        assert isinstance(value, int | float)
        ok = value > low if strict else value >= low
    if not ok:
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ConfigError(path, f"must be a finite number {bound}, got {value!r}")


__all__ = ["BudgetSnapshot", "RetryBudget"]
