"""Spend budgets per tenant over calendar windows: reserve before dispatch, settle after.

A budget is one counter per (tenant, window): the money committed in the
current minute, hour, day or month (UTC), that is, what was spent plus what is
reserved by calls in flight. ``reserve`` adds a call's maximum cost to every
window of the tenant only if it fits all of them; ``settle`` replaces the
reservation by what the attempt actually cost. Money is counted in integer
nano-units of the currency, so Redis adds it exactly.

``MemoryBudgetStore`` is one process's budget; ``RedisBudgetStore``
(``genguard.state.redis_budget``) shares one budget across a fleet.
"""

from __future__ import annotations

import calendar
import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal, Protocol

from ..errors import ConfigError
from .resource import AsyncResource

Window = Literal["minute", "hour", "day", "month"]
WINDOWS: tuple[Window, ...] = ("minute", "hour", "day", "month")
#: Money is counted in units of 1e-9 of the currency.
UNITS_PER_CURRENCY = 10**9
_QUANTUM = Decimal(1).scaleb(-9)
#: The largest limit a budget takes: 1e6 currency units (exact in a Lua double as nano-units).
MAX_LIMIT = Decimal(1_000_000)
DEFAULT_MAX_TENANTS = 100_000
_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def to_units(amount: Decimal, *, up: bool = True) -> int:
    """``amount`` in nano-units, rounded up (reservations) or down."""
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    return int(amount.quantize(_QUANTUM, rounding=rounding).scaleb(9))


def from_units(units: int) -> Decimal:
    return Decimal(units).scaleb(-9)


def window_span(window: Window, wall: float) -> tuple[str, float]:
    """The id of the ``window`` containing epoch time ``wall`` (UTC) and when it ends."""
    if window == "minute":
        start = math.floor(wall / 60) * 60
        return f"m{start // 60}", float(start + 60)
    if window == "hour":
        start = math.floor(wall / 3600) * 3600
        return f"h{start // 3600}", float(start + 3600)
    tm = time.gmtime(wall)
    if window == "day":
        start = calendar.timegm((tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0, 0))
        return f"d{tm.tm_year:04d}{tm.tm_mon:02d}{tm.tm_mday:02d}", float(start + 86400)
    year, month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
    end = calendar.timegm((year, month, 1, 0, 0, 0))
    return f"M{tm.tm_year:04d}{tm.tm_mon:02d}", float(end)


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """At most ``amount`` (currency) per ``window``."""

    window: Window
    amount: Decimal

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ConfigError("budget.limits", f"window must be one of {', '.join(WINDOWS)}")
        if not isinstance(self.amount, Decimal) or not Decimal(0) <= self.amount <= MAX_LIMIT:
            raise ConfigError(
                f"budget.limits.{self.window}", f"must be an amount in [0, {MAX_LIMIT}]"
            )


def parse_limits(spec: object, path: str = "budget.limits") -> tuple[BudgetLimit, ...]:
    """``{"minute": "2.50", "day": 100}`` as limits (amounts as strings keep every digit)."""
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(path, f"must map a window ({', '.join(WINDOWS)}) to an amount")
    out = []
    for window, value in spec.items():
        if window not in WINDOWS:
            raise ConfigError(f"{path}.{window}", f"unknown window; use {', '.join(WINDOWS)}")
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ConfigError(f"{path}.{window}", 'must be an amount such as "2.50"')
        try:
            amount = Decimal(str(value).strip())
        except ArithmeticError:
            raise ConfigError(f"{path}.{window}", f"must be an amount, got {value!r}") from None
        if not amount.is_finite() or not Decimal(0) <= amount <= MAX_LIMIT:
            raise ConfigError(f"{path}.{window}", f"must be an amount in [0, {MAX_LIMIT}]")
        out.append(BudgetLimit(window, amount))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Grant:
    """A reservation that fit: settle it exactly once with the attempt's actual cost."""

    tenant: str
    slots: tuple[tuple[Window, str, float], ...]  # (window, id, ends at)
    units: int
    remote: bool = False

    @property
    def amount(self) -> Decimal:
        return from_units(self.units)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reservation that did not fit ``window``: what was left and when it renews."""

    tenant: str
    window: Window
    limit: Decimal
    remaining: Decimal
    requested: Decimal
    resets_at: float


class BudgetStore(Protocol):
    """Where budgets are counted. Every method is safe to call concurrently."""

    async def reserve(
        self, tenant: str, limits: Sequence[BudgetLimit], amount: Decimal, wall: float
    ) -> Grant | Refusal: ...

    async def settle(self, grant: Grant, actual: Decimal) -> None: ...

    async def remaining(
        self, tenant: str, limits: Sequence[BudgetLimit], wall: float
    ) -> dict[Window, Decimal]: ...

    async def aclose(self) -> None: ...


def tenant_id(tenant: str) -> str:
    """A tenant name safe for a key: as is when short and plain, else a digest."""
    if _NAME.fullmatch(tenant):
        return tenant
    return "sha256-" + hashlib.sha256(tenant.encode("utf-8", "replace")).hexdigest()[:32]


class MemoryBudgetStore(AsyncResource):
    """One process's budgets. ``max_tenants`` bounds memory: the least recently used
    tenant's counters are forgotten beyond it."""

    def __init__(self, *, max_tenants: int = DEFAULT_MAX_TENANTS) -> None:
        if not isinstance(max_tenants, int) or max_tenants < 1:
            raise ConfigError("budget.max_tenants", f"must be an integer >= 1, got {max_tenants!r}")
        self.max_tenants = max_tenants
        #: tenant -> window -> (window id, committed units)
        self._used: OrderedDict[str, dict[Window, tuple[str, int]]] = OrderedDict()

    def _windows(self, tenant: str) -> dict[Window, tuple[str, int]]:
        found = self._used.get(tenant)
        if found is None:
            found = self._used[tenant] = {}
            while len(self._used) > self.max_tenants:
                self._used.popitem(last=False)
        else:
            self._used.move_to_end(tenant)
        return found

    def _current(self, windows: dict[Window, tuple[str, int]], window: Window, wid: str) -> int:
        held = windows.get(window)
        return held[1] if held is not None and held[0] == wid else 0

    async def reserve(
        self, tenant: str, limits: Sequence[BudgetLimit], amount: Decimal, wall: float
    ) -> Grant | Refusal:
        return self.reserve_now(tenant, limits, amount, wall)

    def reserve_now(
        self, tenant: str, limits: Sequence[BudgetLimit], amount: Decimal, wall: float
    ) -> Grant | Refusal:
        """``reserve`` without a suspension point: check and commit are one step."""
        units = to_units(amount)
        windows = self._windows(tenant)
        slots = []
        for limit in limits:
            wid, ends = window_span(limit.window, wall)
            used = self._current(windows, limit.window, wid)
            cap = to_units(limit.amount, up=False)
            if used + units > cap:
                return Refusal(
                    tenant, limit.window, limit.amount, from_units(max(cap - used, 0)), amount, ends
                )
            slots.append((limit.window, wid, ends))
        for window, wid, _ in slots:
            windows[window] = (wid, self._current(windows, window, wid) + units)
        return Grant(tenant, tuple(slots), units)

    async def settle(self, grant: Grant, actual: Decimal) -> None:
        delta = to_units(actual) - grant.units
        windows = self._used.get(grant.tenant)
        if windows is None or delta == 0:
            return
        for window, wid, _ in grant.slots:
            held = windows.get(window)
            if held is not None and held[0] == wid:  # the window has not turned over
                windows[window] = (wid, max(held[1] + delta, 0))

    async def remaining(
        self, tenant: str, limits: Sequence[BudgetLimit], wall: float
    ) -> dict[Window, Decimal]:
        windows = self._used.get(tenant, {})
        out: dict[Window, Decimal] = {}
        for limit in limits:
            wid, _ = window_span(limit.window, wall)
            used = self._current(windows, limit.window, wid)
            out[limit.window] = from_units(max(to_units(limit.amount, up=False) - used, 0))
        return out

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"MemoryBudgetStore(tenants={len(self._used)})"


__all__ = [
    "WINDOWS",
    "BudgetLimit",
    "BudgetStore",
    "Grant",
    "MemoryBudgetStore",
    "Refusal",
    "Window",
    "from_units",
    "parse_limits",
    "tenant_id",
    "to_units",
    "window_span",
]
