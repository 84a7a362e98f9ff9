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
from typing import Any, ClassVar

from pydantic import Field

from ..options import Duration, Int, Number, Options


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


class RetryBudgetOptions(Options):
    doc: ClassVar[str] = "Caps retries to a share of calls, so an outage is not multiplied."

    ratio: Number = Field(0.2, ge=0, le=1, description="Retries allowed per call made.")
    min_per_s: Number = Field(1.0, ge=0, description="Retries always allowed per second.")
    ttl: Duration = Field(10.0, gt=0, description="How far back calls and retries count.")
    max_keys: Int = Field(10000, ge=1, description="Partitions tracked.")


class RetryBudget:
    """Per-key sliding-window budget: ``retries <= ratio * calls + min_per_s * ttl``.

    ``ratio`` (default 0.2): retries allowed per call made, as Finagle's default.
    ``min_per_s`` (default 1.0): a floor of retries per second per key, so a client
    doing one call a minute can still retry it. ``ttl`` (default 10 s): how far back
    "recent" reaches. ``max_keys`` bounds memory when keys come from tenants.
    """

    def __init__(self, options: RetryBudgetOptions | None = None, /, **fields: Any) -> None:
        self.options = RetryBudgetOptions.of(options, fields, "retry.budget")
        self.ratio = float(self.options.ratio)
        self.min_per_s = float(self.options.min_per_s)
        self.ttl = float(self.options.ttl)
        self.max_keys = self.options.max_keys
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


__all__ = ["BudgetSnapshot", "RetryBudget", "RetryBudgetOptions"]
