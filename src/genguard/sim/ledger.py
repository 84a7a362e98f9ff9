"""The simulator's bill: what a provider would charge for the generations it completed.

A provider bills a generation once it has done the work, whether or not the
answer reaches the client. So the simulator bills every success it built: one
delivered whole, one whose body was cut off, one stalled until the client gave
up waiting, and one whose connection was reset after the work was done.
Errors (429, 5xx, 4xx) are not billed. Tests compare this bill with genguard's
own ledger.

Usage is read back from the very body the simulator sends (its own wire
numbers), and priced with the shipped price table, the same contract a real
provider's invoice follows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..catalogue.prices import PriceBook, Shape, default_prices
from ..model import Usage
from .requests import SimRequest

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Bill:
    """One billed generation. ``delivered`` is False when the client never got it."""

    at: float
    api: str
    model: str
    prompt: str
    amount: Decimal
    usage: Usage
    delivered: bool


class Ledger:
    """Every bill the simulator issued, in order. ``prices`` None: the shipped table."""

    def __init__(self, prices: PriceBook | None = None) -> None:
        self.prices = prices or default_prices()
        self.bills: list[Bill] = []
        #: Successes of a model with no price: billed at zero and counted here.
        self.unpriced = 0

    def charge(self, sreq: SimRequest, body: Any, *, delivered: bool = True) -> Bill:
        """Bill the success ``body`` built for ``sreq``."""
        usage = usage_of(sreq.api, body)
        quality = sreq.options.get("quality")
        size = sreq.options.get("size")
        shape = Shape(
            size=size if isinstance(size, str) else f"{sreq.width}x{sreq.height}",
            quality=quality if isinstance(quality, str) else None,
            n=max(sreq.n, 1),
        )
        model = self.prices.get(sreq.model)
        amount = model.usage_cost(usage, shape) if model is not None else None
        if amount is None:
            self.unpriced += 1
            amount = ZERO
        bill = Bill(time.time(), sreq.api, sreq.model, sreq.prompt, amount, usage, delivered)
        self.bills.append(bill)
        return bill

    def mark_undelivered(self, bill: Bill) -> None:
        """The answer of ``bill`` never reached the client (reset, cut off, gave up)."""
        for index in range(len(self.bills) - 1, -1, -1):
            if self.bills[index] is bill:
                self.bills[index] = Bill(
                    bill.at, bill.api, bill.model, bill.prompt, bill.amount, bill.usage, False
                )
                return

    @property
    def total(self) -> Decimal:
        return sum((b.amount for b in self.bills), ZERO)

    @property
    def undelivered(self) -> Decimal:
        return sum((b.amount for b in self.bills if not b.delivered), ZERO)

    def total_for(self, *, model: str | None = None, since: float | None = None) -> Decimal:
        return sum(
            (
                b.amount
                for b in self.bills
                if (model is None or b.model == model) and (since is None or b.at >= since)
            ),
            ZERO,
        )

    def clear(self) -> None:
        self.bills.clear()
        self.unpriced = 0

    def __len__(self) -> int:
        return len(self.bills)

    def __repr__(self) -> str:
        return f"Ledger({len(self.bills)} bills, total={self.total})"


def output_tokens_per_image(
    model: str,
    size: str | None,
    quality: str | None,
    prices: PriceBook | None = None,
    default: int = 4160,
) -> int:
    """The image output tokens the provider documents for ``model`` at ``size`` and
    ``quality`` (the sim's OpenAI usage follows the published schedule)."""
    found = (prices or default_prices()).get(model)
    if found is None or not found.output_image_tokens:
        return default
    return found.output_tokens(Shape(size=size, quality=quality))


def usage_of(api: str, body: Any) -> Usage:
    """The usage in one of the simulator's own success bodies."""
    if not isinstance(body, Mapping):
        return Usage()
    if api == "gemini":
        meta = body.get("usageMetadata")
        if not isinstance(meta, Mapping):
            return Usage()
        prompt = _by_modality(meta.get("promptTokensDetails"))
        output = _by_modality(meta.get("candidatesTokensDetails"))
        return Usage(
            input_tokens=_int(meta.get("promptTokenCount")),
            output_tokens=_int(meta.get("candidatesTokenCount")),
            input_text_tokens=prompt.get("TEXT", 0) if prompt else None,
            input_image_tokens=prompt.get("IMAGE", 0) if prompt else None,
            image_tokens=output.get("IMAGE", 0),
            output_text_tokens=output.get("TEXT", 0),
            thoughts_tokens=_int(meta.get("thoughtsTokenCount")),
        )
    usage = body.get("usage")
    data = body.get("data")
    images = len(data) if isinstance(data, list) else 0
    if not isinstance(usage, Mapping):
        return Usage(images=images)
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        input_text_tokens=_int(inputs.get("text_tokens")),
        input_image_tokens=_int(inputs.get("image_tokens")),
        image_tokens=_int(outputs.get("image_tokens")),
        output_text_tokens=_int(outputs.get("text_tokens")),
        images=images,
    )


def _by_modality(details: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in details if isinstance(details, list) else ():
        if isinstance(entry, Mapping):
            modality, count = entry.get("modality"), _int(entry.get("tokenCount"))
            if isinstance(modality, str) and count is not None:
                counts[modality] = counts.get(modality, 0) + count
    return counts


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["Bill", "Ledger", "output_tokens_per_image", "usage_of"]
