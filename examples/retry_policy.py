"""The retry layer on the embedded simulator: hints obeyed, long waits refused, outages budgeted.

Runs without API keys, in about ten seconds. Four short scenes:

1. ``flaky``: 503s and 429s with hints; every retry is printed with its delay and
   the hint that set its floor, and the simulator counts early returns (zero).
2. A Retry-After longer than the call's deadline: the call fails at once with
   ``RateLimited(retry_after=...)`` instead of sleeping for nothing.
3. ``outage`` with a retry budget: how many requests reached the provider,
   against the same outage without a budget.
4. A blocked prompt (``safety``): never retried.

    python examples/retry_policy.py
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from genguard import Call, Client, GenerationRequest, Layer, Observer
from genguard.errors import ContentBlocked, GenGuardError, RateLimited
from genguard.layers.retry import RetryLayer
from genguard.layers.retry_budget import RetryBudget
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator


class RetryPrinter(Observer):
    """Prints each retry the layer schedules and each time it gives up."""

    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        hint = f", floor from {hint_source}" if hint_source else ""
        print(f"    attempt {call.attempt} failed ({reason}): retry in {delay:.3f}s{hint}")

    def retry_gave_up(self, call: Call, reason: str) -> None:
        print(f"    gave up after attempt {call.attempt}: {reason}")


def policy(budget: RetryBudget | None = None) -> RetryLayer:
    # Production defaults are initial=1s, max_delay=30s; the simulator answers in
    # milliseconds, so the example scales the backoff down to match.
    return RetryLayer(attempts=4, initial=0.05, max_delay=1.0, max_retry_after=60, budget=budget)


async def flaky() -> None:
    print("1. flaky: 30% of requests fail with 503 or 429 (Retry-After, retry-after-ms, RetryInfo)")
    for provider_type in (GeminiProvider, OpenAIProvider):
        async with Simulator("flaky", seed=4) as sim:
            provider = provider_type("no-key-needed", base_url=sim.base_url)
            layers: list[Layer] = [policy(), TimeoutLayer(10)]
            async with Client(provider, layers, observer=RetryPrinter(), deadline=30) as client:
                print(f"  {provider.name}:")
                ok = 0
                for i in range(8):
                    try:
                        result = await client.generate(f"a paper boat, take {i}")
                        ok += 1
                        if result.attempts > 1:
                            print(f"    -> image after {result.attempts} attempts")
                    except GenGuardError as error:
                        print(f"    -> failed: {error!r}")
            print(
                f"  {ok}/8 succeeded; requests back before their hint: {sim.retry_after_violations}"
            )


async def hint_beyond_deadline() -> None:
    print("\n2. the server asks for 30s, the call has 5s left: fail now, say how long")
    async with Simulator("outage", duration=60, retry_after=30) as sim:
        provider = OpenAIProvider("no-key-needed", base_url=sim.base_url)
        async with Client(provider, [policy()], observer=RetryPrinter()) as client:
            started = time.monotonic()
            try:
                await client.generate(GenerationRequest(prompt="a lighthouse", deadline=5))
            except RateLimited as error:
                took = time.monotonic() - started
                print(f"  RateLimited(retry_after={error.retry_after:g}) after {took:.3f}s")
                print(f"  ({error})")


async def outage(budget: RetryBudget | None) -> tuple[int, int]:
    """Open-loop traffic, 40 new calls a second, through a 2 s outage."""
    async with Simulator("outage", duration=2.0) as sim:
        provider = GeminiProvider("no-key-needed", base_url=sim.base_url)
        async with Client(provider, [policy(budget)], deadline=10) as client:

            async def one(i: int) -> None:
                with contextlib.suppress(GenGuardError):
                    await client.generate(f"a dark city, call {i}")

            tasks = []
            for i in range(80):
                tasks.append(asyncio.create_task(one(i)))
                await asyncio.sleep(0.025)
            await asyncio.gather(*tasks)
        failed = [r for r in sim.log if r.status == 503]
        return len({r.prompt for r in failed}), len(failed)


async def budgeted_outage() -> None:
    print("\n3. a 2 s outage, 80 calls: requests that reached the failing provider")
    budget = RetryBudget(ratio=0.2, min_per_s=1.0, ttl=10)
    calls, upstream = await outage(budget)
    print(
        f"  with budget (20% + 1/s): {upstream} requests for {calls} calls "
        f"(at most {calls + int(0.2 * calls + 10)})"
    )
    calls, upstream = await outage(None)
    print(f"  without a budget:        {upstream} requests for {calls} calls")


async def blocked() -> None:
    print("\n4. a blocked prompt is never retried")
    async with Simulator("safety") as sim:
        provider = GeminiProvider("no-key-needed", base_url=sim.base_url)
        async with Client(provider, [policy()]) as client:
            try:
                await client.generate("violence-test: a street fight")
            except ContentBlocked as error:
                print(
                    f"  ContentBlocked({error.category}, source={error.source}); "
                    f"requests sent: {len(sim.log)}"
                )


async def main() -> None:
    await flaky()
    await hint_beyond_deadline()
    await budgeted_outage()
    await blocked()


if __name__ == "__main__":
    asyncio.run(main())
