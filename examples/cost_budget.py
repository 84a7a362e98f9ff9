"""What every call cost, a budget that cannot be overspent, and the simulator's bill.

Runs without API keys in a few seconds, on the embedded simulator:

1. ``slow``: some answers stall past the attempt timeout. Each lost answer is
   *possibly billed*; retry resubmits at most once after one (``resubmit_uncertain``),
   and genguard's ledger (settled + possibly billed) is compared with the
   simulator's bill.
2. A tenant budget of $0.50 a minute under 12 concurrent callers: calls that do
   not fit are refused with ``BudgetExceeded`` before anything is sent, and the
   bill stays under the limit.

    python examples/cost_budget.py
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from genguard import Client, GenerationRequest
from genguard.billing import Cost, ResubmitPolicy
from genguard.errors import BudgetExceeded, GenGuardError
from genguard.layers.budget import BudgetLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator


async def lost_answers() -> None:
    print("1. slow answers, some lost to the attempt timeout")
    async with Simulator("slow", seed=4, fraction=0.3, delay=0.5) as sim:
        layers = [
            # simulator scale: production backoff starts at 1 s, the timeout at 60 s
            RetryLayer(attempts=4, initial=0.01, resubmit=ResubmitPolicy(max_resubmits=1)),
            TimeoutLayer(0.2),
        ]
        total = Cost()
        duplicates = 0
        async with Client(OpenAIProvider("sim-key", base_url=sim.base_url), layers) as client:
            for i in range(12):
                request = GenerationRequest(
                    prompt=f"a brass telescope, plate {i}", options={"quality": "medium"}
                )
                call = client.new_call(request)
                try:
                    result = await client.handler(call)
                    outcome = f"{len(result.images)} image"
                except GenGuardError as error:
                    outcome = type(error).__name__
                cost = call.billing.cost()
                total = total + cost
                duplicates += call.billing.possibly_billed_duplicates
                statuses = ", ".join(c.status for c in call.billing.charges)
                print(f"   call {i:2}: {outcome:16} [{statuses}]  {cost}")
        settled, possible = total.settled, total.possibly_billed
        print(f"   genguard: {settled:.4f} settled + {possible:.4f} possibly billed")
        print(f"   simulator's bill: {sim.ledger.total:.4f} USD")
        print(f"   possibly-billed duplicates: {duplicates} (at most one per call)\n")


async def budget() -> None:
    limit = Decimal("0.50")
    print(f"2. tenant 'acme' on a budget of {limit} USD a minute, 12 callers at once")
    async with Simulator("clean") as sim:
        layer = BudgetLayer({"minute": limit, "day": "20"})
        async with Client(OpenAIProvider("sim-key", base_url=sim.base_url), [layer]) as client:

            async def one(i: int) -> str:
                try:
                    await client.generate(
                        f"a paper lantern, study {i}",
                        options={"quality": "medium"},
                        metadata={"tenant": "acme"},
                    )
                except BudgetExceeded as refused:
                    return f"refused ({refused.remaining:.4f} left, needs {refused.requested:.4f})"
                return "ok"

            outcomes = await asyncio.gather(*(one(i) for i in range(12)))
            left = await layer.remaining("acme", client.clock.wall())
        for i, outcome in enumerate(outcomes):
            print(f"   call {i:2}: {outcome}")
        print(f"   simulator's bill: {sim.ledger.total:.4f} USD (limit {limit})")
        print(f"   left this minute: {left['minute']:.4f}, today: {left['day']:.4f}")


async def main() -> None:
    await lost_answers()
    await budget()


if __name__ == "__main__":
    asyncio.run(main())
