"""Stay inside a provider quota with the rate-limit layer (no API key needed).

Starts the embedded simulator with its ``ratelimit`` profile (20 requests/s per
key), then offers 40 calls at once, first with no limiter and then through
``RateLimitLayer(requests="20/s", concurrency=8)``, and prints what the server
answered and what the limiter reported.

    python examples/rate_limit.py
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from genguard import Call, Client, GenerationRequest, Observer, RateLimited
from genguard.layers.rate_limit import RateLimitLayer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator


class Waits(Observer):
    """Collects the limiter's announcements (a real service would export them)."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()
        self.longest = 0.0

    def limiter_waited(self, call: Call, key: str, seconds: float, reason: str) -> None:
        self.reasons[reason] += 1
        self.longest = max(self.longest, seconds)

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        print(f"  {key} paused {seconds:.3f}s for every caller ({source})")


async def burst(layers: list[Layer], label: str) -> None:
    waits = Waits()
    async with Simulator("ratelimit", rate=20, burst=3) as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, layers=layers, deadline=5.0, observer=waits) as client:
            started = time.monotonic()
            outcomes = await asyncio.gather(
                *(client.generate(GenerationRequest(prompt=f"a red kite #{i}")) for i in range(40)),
                return_exceptions=True,
            )
            elapsed = time.monotonic() - started
    ok = sum(not isinstance(o, BaseException) for o in outcomes)
    limited = sum(isinstance(o, RateLimited) for o in outcomes)
    print(f"{label}: {ok} images, {limited} rate limited, in {elapsed:.2f}s")
    print(f"  server answered {dict(sim.status_counts)}")
    if waits.reasons:
        print(f"  limiter waits {dict(waits.reasons)}, longest {waits.longest:.2f}s")


async def main() -> None:
    await burst([], "no limiter")
    await burst([RateLimitLayer(requests="20/s", concurrency=8)], "20/s limiter")


if __name__ == "__main__":
    asyncio.run(main())
