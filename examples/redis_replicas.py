"""Three "replicas" sharing one rate limit and one circuit breaker through Redis.

Runs against the embedded simulator (no API key) and a Redis you point it at:

    REDIS_URL=redis://127.0.0.1:6379/0 python examples/redis_replicas.py

Each replica is its own Client with its own Redis connection, as separate
processes would be. Together they send at most 10 requests/s; then the
simulator goes down, one replica trips the shared breaker and the others are
refused without sending anything.
"""

from __future__ import annotations

import asyncio
import os
import time

from genguard import Client
from genguard.errors import CircuitOpen, ProviderUnavailable
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.state.redis import from_config

REPLICAS = 3


async def replica(name: str, redis_url: str, base_url: str, seconds: float) -> dict[str, int]:
    state = from_config({"url": redis_url, "namespace": "example", "on_backend_error": "local"})
    layers = [
        CircuitBreakerLayer(fail_max=3, reset_timeout=5.0, store=state.breaker),
        RateLimitLayer(requests="10/s", backend=state.limiter),
    ]
    tally = {"ok": 0, "refused": 0, "failed": 0}
    try:
        async with Client(GeminiProvider("sim-key", base_url=base_url), layers) as client:
            stop_at = time.monotonic() + seconds
            while time.monotonic() < stop_at:
                try:
                    await client.generate(f"{name}: a paper crane on a wooden desk")
                    tally["ok"] += 1
                except CircuitOpen:
                    tally["refused"] += 1
                    await asyncio.sleep(0.1)
                except ProviderUnavailable:
                    tally["failed"] += 1
    finally:
        await state.limiter.aclose()
        await state.breaker.aclose()
    return tally


async def main() -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    async with Simulator("clean") as sim:
        print(f"3 replicas, one quota of 10/s, Redis at {redis_url}")
        tallies = await asyncio.gather(
            *(replica(f"r{i}", redis_url, sim.base_url, 3.0) for i in range(REPLICAS))
        )
        print(f"  sent {len(sim.log)} requests in 3 s; busiest second: {sim.max_in_window(1.0)}")
        for i, tally in enumerate(tallies):
            print(f"  r{i}: {tally}")

        sim.set_profile("outage", duration=60.0)
        sim.clear_log()
        print("outage: the provider answers 503")
        tallies = await asyncio.gather(
            *(replica(f"r{i}", redis_url, sim.base_url, 2.0) for i in range(REPLICAS))
        )
        print(
            f"  requests that reached the provider: {len(sim.log)} "
            "(fail_max 3, plus calls already in flight)"
        )
        for i, tally in enumerate(tallies):
            print(f"  r{i}: {tally}")


if __name__ == "__main__":
    asyncio.run(main())
