"""Budget: a call whose cost might not fit the tenant's budget never reaches the provider.

Attempt-scoped and placed first among the attempt layers (before the breaker
and the rate limiter, so a refused call takes no permit). Before each attempt it
reserves the attempt's *maximum* cost, priced from the request (model, size,
quality, n, input images, service tier) against every window of the tenant's
budget; if that does not fit, ``BudgetExceeded`` is raised (never retried) and
nothing is sent. After the attempt it settles the reservation to what the
attempt cost: its usage when billed, the whole reservation when the answer was
lost (uncertain counts as billed, at its upper bound), nothing when it was not
billed.

Since every reservation is an upper bound and reserve is atomic, a budget is
never overspent by one process; a fleet sharing a Redis budget is not either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..billing import AttemptCharge
from ..catalogue.prices import PriceBook, Shape, default_prices
from ..clock import Clock
from ..core import Handler, Scope
from ..errors import BudgetExceeded, ConfigError, GenGuardError
from ..model import Call, GenerationResult
from ..options import LayerOptions, Number
from ..state.budget import BudgetLimit, BudgetStore, Grant, MemoryBudgetStore, parse_limits
from ..state.resource import AsyncResource

#: Where the tenant comes from: a request metadata field, or the call's partition key.
KEY_TENANT = "key"
DEFAULT_TENANT = "default"
MAX_TENANT_CHARS = 256


class BudgetOptions(LayerOptions):
    layer_name: ClassVar[str] = "budget"
    doc: ClassVar[str] = (
        "Spend limits per tenant: reserves each attempt's maximum cost before dispatch, "
        "settles after. Uses `state` (redis: one budget for the fleet)."
    )

    limits: dict[Literal["minute", "hour", "day", "month"], str | Number] = Field(
        description="Amount per window in the price table's currency, e.g. `{minute: 2.50}`."
    )
    tenant: str = Field(
        "tenant",
        min_length=1,
        description="Request metadata field naming who pays; `key` uses the partition key.",
    )
    tenants: dict[str, dict[Literal["minute", "hour", "day", "month"], str | Number]] = Field(
        default_factory=dict, description="Limits of single tenants, replacing `limits`."
    )

    @model_validator(mode="after")
    def _amounts(self) -> BudgetOptions:
        from ..errors import ConfigError
        from ..state.budget import parse_limits

        try:
            parse_limits(self.limits, "limits")
            for name, spec in self.tenants.items():
                parse_limits(spec, f"tenants.{name}")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class BudgetLayer(AsyncResource):
    """Per-tenant spend limits over minute/hour/day/month windows (config key ``budget``).

    ``limits`` maps a window to an amount in the price table's currency
    (``{"minute": "2.50", "day": "100"}``); ``tenants`` gives single tenants
    their own limits. ``tenant`` names the request metadata field that says who
    pays (``"key"``: the partition key); a request without it is ``default``.
    ``store``: a ``MemoryBudgetStore`` (one process) or a ``RedisBudgetStore``
    (a fleet). ``prices``: the price book (None: the shipped prices). ``clock``
    tells the windows' wall time (None: the call's clock).
    """

    options_model: ClassVar[type[BudgetOptions]] = BudgetOptions

    scope: Scope = "attempt"

    def __init__(
        self,
        options: BudgetOptions | Mapping[str, object] | Sequence[BudgetLimit] | None = None,
        /,
        *,
        store: BudgetStore | None = None,
        prices: PriceBook | None = None,
        clock: Clock | None = None,
        **fields: Any,
    ) -> None:
        """``BudgetLayer(BudgetOptions(...))``, ``BudgetLayer({"day": "100"})`` or
        ``limits=...``; ``tenant``/``tenants`` as keywords. The options model holds
        every default and bound; ``store``, ``prices`` and ``clock`` are collaborators."""
        if options is not None and not isinstance(options, BudgetOptions):
            fields = {"limits": options, **fields}
            options = None
        if "limits" in fields:
            fields["limits"] = _plain(fields["limits"], "budget.limits")
        if isinstance(fields.get("tenants"), Mapping):
            fields["tenants"] = {
                name: _plain(spec, f"budget.tenants.{name}")
                for name, spec in fields["tenants"].items()
            }
        self.options = BudgetOptions.of(options, fields, "budget")
        self.clock = clock
        self.limits = parse_limits(self.options.limits, "budget.limits")
        self.tenants = {
            name: parse_limits(spec, f"budget.tenants.{name}")
            for name, spec in self.options.tenants.items()
        }
        self.tenant_field = self.options.tenant
        self.store: BudgetStore = store if store is not None else MemoryBudgetStore()
        self.prices = prices or default_prices()
        self._settling: set[asyncio.Task[None]] = set()

    def tenant_of(self, call: Call) -> str:
        if self.tenant_field == KEY_TENANT:
            return call.key
        value = call.request.metadata.get(self.tenant_field)
        if not isinstance(value, str) or not value:
            return DEFAULT_TENANT
        return value[:MAX_TENANT_CHARS]

    def limits_for(self, tenant: str) -> tuple[BudgetLimit, ...]:
        return self.tenants.get(tenant, self.limits)

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        tenant = self.tenant_of(call)
        call.extras["budget.tenant"] = tenant
        limits = self.limits_for(tenant)
        amount = self.prices.require(call.model).estimate(Shape.of(call.request), maximum=True)
        wall = (self.clock or call.clock).wall()
        granted = await self.store.reserve(tenant, limits, amount, wall)
        if not isinstance(granted, Grant):
            call.observer.budget_remaining(
                call, tenant, granted.window, float(granted.remaining), float(granted.limit)
            )
            raise BudgetExceeded(
                f"budget of tenant {tenant!r} for this {granted.window}: "
                f"{granted.remaining:.4f} of {granted.limit} left, the call may cost "
                f"up to {amount:.4f}",
                tenant=tenant,
                window=granted.window,
                limit=granted.limit,
                remaining=granted.remaining,
                requested=amount,
                retry_at=granted.resets_at,
            )
        try:
            result = await next(call)
        except asyncio.CancelledError:
            # settle without holding up the cancellation; aclose waits for it
            charge = call.billing.finish_attempt(call, None, asyncio.CancelledError())
            task = asyncio.get_running_loop().create_task(
                self._settle(call, tenant, limits, granted, charge)
            )
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
            raise
        except BaseException as error:
            charge = call.billing.finish_attempt(call, None, error)
            await self._settle(call, tenant, limits, granted, charge)
            raise
        charge = call.billing.finish_attempt(call, result, None)
        await self._settle(call, tenant, limits, granted, charge)
        return result

    async def _settle(
        self,
        call: Call,
        tenant: str,
        limits: Sequence[BudgetLimit],
        grant: Grant,
        charge: AttemptCharge,
    ) -> None:
        """Replace the reservation by the attempt's cost. A lost answer (uncertain) or
        an unpriced one keeps the whole reservation: its real cost is unknown, and
        the reservation is its upper bound."""
        if charge.status == "billed" and charge.amount is not None:
            actual = charge.amount
        elif charge.status in ("billed", "uncertain"):
            actual = grant.amount
        else:
            actual = Decimal(0)
        try:
            await self.store.settle(grant, actual)
            left = await self.store.remaining(tenant, limits, (self.clock or call.clock).wall())
        except GenGuardError:
            return  # fail_closed stores already reported it; the call's outcome stands
        for window, remaining in left.items():
            limit = next(lim.amount for lim in limits if lim.window == window)
            call.observer.budget_remaining(call, tenant, window, float(remaining), float(limit))

    async def remaining(self, tenant: str, wall: float) -> dict[str, Decimal]:
        """What ``tenant`` has left in each window at epoch time ``wall``."""
        left = await self.store.remaining(tenant, self.limits_for(tenant), wall)
        return {str(window): amount for window, amount in left.items()}

    async def aclose(self) -> None:
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        await self.store.aclose()

    def __repr__(self) -> str:
        shown = ", ".join(f"{lim.window}={lim.amount}" for lim in self.limits)
        return f"BudgetLayer({shown}, tenant={self.tenant_field!r}, store={self.store!r})"


def _plain(spec: object, path: str) -> object:
    """Limits as the options model reads them: ``BudgetLimit``s and ``Decimal`` amounts
    become strings, which keep every digit."""
    if isinstance(spec, Mapping):
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in spec.items()}
    if isinstance(spec, Sequence) and spec and all(isinstance(x, BudgetLimit) for x in spec):
        return {str(x.window): str(x.amount) for x in spec}
    raise ConfigError(path, "must map a window (minute, hour, day, month) to an amount")


__all__ = ["DEFAULT_TENANT", "KEY_TENANT", "BudgetLayer", "BudgetOptions"]
