"""Budgets on Redis: one budget shared by every process of a fleet.

Reserve and settle are one Lua script each, so N processes reserving at once
can never commit more than a window's limit: the check and the increment of
every window of the tenant happen in one atomic step. Counters are integer
nano-units (exact in Redis) and expire after their window. When Redis fails,
``on_backend_error`` applies as for the other shared stores: ``local`` carries
on with this process's own counters, ``fail_closed`` refuses the call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from redis.asyncio import Redis

from ..observe import Observer
from .budget import (
    BudgetLimit,
    Grant,
    MemoryBudgetStore,
    Refusal,
    Window,
    from_units,
    tenant_id,
    to_units,
    window_span,
)
from .fallback import OnBackendError
from .redis import (
    BACKEND_ERRORS,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_NAMESPACE,
    DEFAULT_RECHECK_INTERVAL,
    RedisConnection,
    _Lua,
    _SharedStore,
)

#: KEYS: one counter per window. ARGV: units, then (cap, ttl) per key.
#: Returns {0} when reserved, else {index of the full window, units used there}.
RESERVE = """
local units = tonumber(ARGV[1])
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local cap = tonumber(ARGV[2 * i])
  if used + units > cap then
    return {i, tostring(used)}
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[1])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1])
end
return {0, ''}
"""
#: KEYS: the grant's counters. ARGV: the signed difference, actual - reserved.
SETTLE = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local left = redis.call('INCRBY', KEYS[i], ARGV[1])
    if left < 0 then redis.call('SET', KEYS[i], '0', 'KEEPTTL') end
  end
end
return 1
"""
#: KEYS: counters. Returns the units used in each.
USED = """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('GET', KEYS[i]) or '0'
end
return out
"""
BUDGET_SCRIPTS: Mapping[str, str] = {"reserve": RESERVE, "settle": SETTLE, "used": USED}
#: Counters outlive their window by this much, so a late settle still finds them.
TTL_MARGIN = 120.0


class RedisBudgetStore(_SharedStore[MemoryBudgetStore]):
    """Budgets on Redis, shared by every process using the same ``namespace``.

    Keys: ``{namespace}:budget:{tenant}:{window id}``, expiring after their window.
    """

    component = "budget"

    def __init__(
        self,
        connection: RedisConnection | Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        on_backend_error: OnBackendError = "local",
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        observer: Observer | None = None,
        local: MemoryBudgetStore | None = None,
    ) -> None:
        super().__init__(
            connection,
            local=local or MemoryBudgetStore(),
            namespace=namespace,
            on_backend_error=on_backend_error,
            recheck_interval=recheck_interval,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            observer=observer,
        )
        self._lua = {name: _Lua(name, source) for name, source in BUDGET_SCRIPTS.items()}

    def key(self, tenant: str, window_id: str) -> str:
        return f"{self.namespace}:budget:{{{tenant_id(tenant)}}}:{window_id}"

    async def reserve(
        self, tenant: str, limits: Sequence[BudgetLimit], amount: Decimal, wall: float
    ) -> Grant | Refusal:
        units = to_units(amount)

        async def remote() -> Grant | Refusal:
            slots = [(lim.window, *window_span(lim.window, wall)) for lim in limits]
            args = [str(units)]
            for limit, (_, _, ends) in zip(limits, slots, strict=True):
                ttl = max(int(ends - wall + TTL_MARGIN), 1)
                args += [str(to_units(limit.amount, up=False)), str(ttl)]
            keys = [self.key(tenant, wid) for _, wid, _ in slots]
            reply = await self.connection.run(self._lua["reserve"], keys, args)
            full = int(reply[0])
            if full == 0:
                return Grant(tenant, tuple(slots), units, remote=True)
            limit = limits[full - 1]
            used = int(str(reply[1]))
            left = max(to_units(limit.amount, up=False) - used, 0)
            return Refusal(
                tenant, limit.window, limit.amount, from_units(left), amount, slots[full - 1][2]
            )

        async def local() -> Grant | Refusal:
            return self.local.reserve_now(tenant, limits, amount, wall)

        return await self.switch.run(remote, local, BACKEND_ERRORS)

    async def settle(self, grant: Grant, actual: Decimal) -> None:
        if not grant.remote:
            await self.local.settle(grant, actual)
            return
        delta = to_units(actual) - grant.units
        if delta == 0:
            return
        keys = [self.key(grant.tenant, wid) for _, wid, _ in grant.slots]

        async def remote() -> None:
            await self.connection.run(self._lua["settle"], keys, [str(delta)])

        async def local() -> None:
            return None  # the grant lives in Redis; while it is down it stays reserved

        await self.switch.run(remote, local, BACKEND_ERRORS)

    async def remaining(
        self, tenant: str, limits: Sequence[BudgetLimit], wall: float
    ) -> dict[Window, Decimal]:
        async def remote() -> dict[Window, Decimal]:
            keys = [self.key(tenant, window_span(lim.window, wall)[0]) for lim in limits]
            used = await self.connection.run(self._lua["used"], keys, [])
            return {
                lim.window: from_units(max(to_units(lim.amount, up=False) - int(str(u)), 0))
                for lim, u in zip(limits, used, strict=True)
            }

        async def local() -> dict[Window, Decimal]:
            return await self.local.remaining(tenant, limits, wall)

        return await self.switch.run(remote, local, BACKEND_ERRORS)


__all__ = ["BUDGET_SCRIPTS", "RedisBudgetStore"]
