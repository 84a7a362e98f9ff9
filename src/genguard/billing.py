"""Money: the billing status of every attempt, and what a call cost.

Every attempt ends in one of four states (``errors.BillingStatus``): ``not_sent``
(refused locally, or the connection was refused), ``rejected`` (the provider
answered with an error: not billed), ``uncertain`` (the request went out and the
answer was lost: read timeout, reset, truncated body, cancellation: possibly
billed) and ``billed`` (usage came back). The status is a fact decided where it
is made: a provider's error mapper or the transport sets ``error.billing``; when
no one could (a timeout layer cancelling a request in flight), it follows from
whether the request had left, which the transport marks with ``mark_sent``.

A call's ``CallLedger`` (``call.billing``) records one ``AttemptCharge`` per
attempt; its ``Cost`` is the settled amount (billed attempts, priced from the
usage that came back) plus a separate possibly-billed amount (uncertain
attempts, priced from the request's estimate).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from .catalogue.prices import PriceBook, Shape, default_prices
from .errors import BillingStatus, ConfigError, GenGuardError, PriceUnknown

if TYPE_CHECKING:
    from .model import Call, GenerationResult, Usage

ZERO = Decimal(0)
STATUSES: tuple[BillingStatus, ...] = ("not_sent", "rejected", "uncertain", "billed")
#: Gemini ``trafficType`` -> the price tier it was billed at.
TRAFFIC_TIERS = {
    "ON_DEMAND": "standard",
    "ON_DEMAND_FLEX": "flex",
    "ON_DEMAND_PRIORITY": "priority",
}


class _Mark:
    """Set once the request of the current attempt has (started to) go out."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


_ATTEMPT: ContextVar[_Mark | None] = ContextVar("genguard_attempt", default=None)


def mark_sent() -> None:
    """Record that the current attempt's request is leaving (called by the transport).

    Task-local: the mark belongs to the attempt running in this task, so
    concurrent calls never see each other's marks.
    """
    mark = _ATTEMPT.get()
    if mark is not None:
        mark.sent = True


@dataclass(frozen=True, slots=True)
class Cost:
    """What a call cost: ``settled`` (billed, from usage) and ``possibly_billed``
    (attempts whose answer was lost, from the estimate), kept apart.

    ``unpriced`` counts billed or uncertain attempts of a model with no known price.
    """

    settled: Decimal = ZERO
    possibly_billed: Decimal = ZERO
    currency: str = "USD"
    unpriced: int = 0

    @property
    def total(self) -> Decimal:
        """Settled plus possibly billed: the most the call may have cost."""
        return self.settled + self.possibly_billed

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.settled + other.settled,
            self.possibly_billed + other.possibly_billed,
            self.currency,
            self.unpriced + other.unpriced,
        )

    def __str__(self) -> str:
        text = f"{self.settled:.4f} {self.currency}"
        if self.possibly_billed:
            text += f" (+{self.possibly_billed:.4f} possibly billed)"
        return text


@dataclass(frozen=True, slots=True)
class AttemptCharge:
    """One attempt's billing status and amount (settled if billed, possible if
    uncertain, zero otherwise; None when the model has no price)."""

    attempt: int
    status: BillingStatus
    provider: str
    model: str
    amount: Decimal | None
    usage: Usage | None = None
    #: True when the amount is the request's estimate rather than reported usage.
    estimated: bool = False


def status_of(error: BaseException | None, sent: bool) -> BillingStatus:
    """The billing status of an attempt that ended with ``error`` (None: success)."""
    if error is None:
        return "billed"
    if isinstance(error, GenGuardError) and error.billing is not None:
        return error.billing
    return "uncertain" if sent else "not_sent"


class CallLedger:
    """The charges of one call's attempts, in order. ``prices`` None: the shipped prices."""

    __slots__ = ("_prices", "charges")

    def __init__(self, prices: PriceBook | None = None) -> None:
        self._prices = prices
        self.charges: list[AttemptCharge] = []

    @property
    def prices(self) -> PriceBook:
        if self._prices is None:
            self._prices = default_prices()
        return self._prices

    # -- recording (driven by the pipeline's attempt boundary) ----------------------------
    def begin(self) -> Token[_Mark | None]:
        """Start watching for the current attempt's request to go out."""
        return _ATTEMPT.set(_Mark())

    def end(self, token: Token[_Mark | None]) -> None:
        _ATTEMPT.reset(token)

    def finish_attempt(
        self, call: Call, result: GenerationResult | None, error: BaseException | None
    ) -> AttemptCharge:
        """Decide and record the charge of attempt ``call.attempt``; asking again for the
        same attempt returns the same charge, so a budget layer and the boundary agree."""
        attempt = call.attempt
        for found in reversed(self.charges):  # a few attempts at most: no index kept
            if found.attempt == attempt:
                return found
        mark = _ATTEMPT.get()
        sent = mark is not None and mark.sent
        status = status_of(error, sent)
        usage = result.usage if result is not None else getattr(error, "usage", None)
        amount: Decimal | None = ZERO
        estimated = False
        if status in ("billed", "uncertain"):
            amount, estimated = self._price(call, status, usage, result)
        charge = AttemptCharge(
            call.attempt, status, call.provider, call.model, amount, usage, estimated
        )
        self.charges.append(charge)
        return charge

    def _price(
        self,
        call: Call,
        status: BillingStatus,
        usage: Usage | None,
        result: GenerationResult | None,
    ) -> tuple[Decimal | None, bool]:
        prices = self.prices
        model = prices.get(call.model)
        if model is None and result is not None:
            model = prices.get(result.model)
        if model is None:
            return None, False
        shape = Shape.of(call.request)
        try:
            if status == "billed" and usage is not None:
                tier = TRAFFIC_TIERS.get(usage.traffic_type or "")
                if tier is not None and tier in model.tiers:
                    shape = replace(shape, tier=tier)
                amount = prices.usage_cost(model, usage, shape)
                if amount is not None:
                    return amount, False
            return model.estimate(shape), True
        except PriceUnknown:
            return None, False

    # -- reading -----------------------------------------------------------------------------
    def cost(self) -> Cost:
        settled = possible = ZERO
        unpriced = 0
        for charge in self.charges:
            if charge.status not in ("billed", "uncertain"):
                continue
            if charge.amount is None:
                unpriced += 1
            elif charge.status == "billed":
                settled += charge.amount
            else:
                possible += charge.amount
        return Cost(settled, possible, self.prices.currency, unpriced)

    @property
    def uncertain(self) -> int:
        return sum(1 for c in self.charges if c.status == "uncertain")

    @property
    def possibly_billed_duplicates(self) -> int:
        """Resubmissions made after a possibly-billed attempt: each may have paid for
        the same generation twice."""
        return sum(
            1
            for i, c in enumerate(self.charges)
            if c.status == "uncertain" and i < len(self.charges) - 1
        )

    @property
    def billed_or_uncertain(self) -> bool:
        return any(c.status in ("billed", "uncertain") for c in self.charges)

    def __repr__(self) -> str:
        statuses = ",".join(c.status for c in self.charges)
        return f"CallLedger([{statuses}], {self.cost()})"


@dataclass(frozen=True, slots=True)
class ResubmitPolicy:
    """Whether to send a request again after an attempt that may have been billed.

    Ordinary retries (of attempts that were not billed) are the retry layer's
    business; this caps the *possibly-billed* resubmits of a call:
    ``max_resubmits=1`` (the default) allows one, ``0`` (``ResubmitPolicy.never()``)
    none. A request with an ``idempotency_key`` is still capped: no image API
    documents honouring one.
    """

    max_resubmits: int = 1

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_resubmits, int)
            or isinstance(self.max_resubmits, bool)
            or not 0 <= self.max_resubmits <= 100
        ):
            raise ConfigError(
                "retry.resubmit_uncertain",
                f"must be an integer in [0, 100], got {self.max_resubmits!r}",
            )

    @classmethod
    def never(cls) -> ResubmitPolicy:
        return cls(0)

    def may_resubmit(self, call: Call, error: BaseException) -> bool:
        """False when the attempt that raised ``error`` was possibly billed and the
        call has used up its possibly-billed resubmits."""
        charges = call.billing.charges
        if not charges or charges[-1].status != "uncertain":
            return True
        return call.billing.uncertain <= self.max_resubmits


__all__ = [
    "STATUSES",
    "AttemptCharge",
    "BillingStatus",
    "CallLedger",
    "Cost",
    "ResubmitPolicy",
    "mark_sent",
    "status_of",
]
