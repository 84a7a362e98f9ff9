"""The documented stack, every option at its default, under faults (no API key needed).

Runs 64 calls, 16 at a time, through telemetry, safety, retry, circuit_breaker,
rate_limit {concurrency: 16} and timeout against the embedded simulator: a server
allowing 20 requests/s that the client is not told about (the limiter learns a
rate from its 429s), then a per-day quota that runs out after 32 images (the key
then refuses locally: no more requests, failures back at once). Prints what each
call came to and what the server saw.

    python examples/whole_stack_faults.py
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from genguard import Client, GenGuardError
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.layers.telemetry import TelemetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.safety import ClassifierChain, RulesClassifier
from genguard.sim import Simulator


def default_stack() -> tuple[list[Layer], RateLimitLayer]:
    limiter = RateLimitLayer(concurrency=16)
    layers: list[Layer] = [
        TelemetryLayer(logs=False),
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(),
        CircuitBreakerLayer(),
        limiter,
        TimeoutLayer(),
    ]
    return layers, limiter


async def run(profile: str, **options: object) -> None:
    layers, limiter = default_stack()
    async with Simulator(profile, **options) as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        outcomes: Counter[str] = Counter()
        slowest_failure = 0.0
        async with Client(provider, layers, deadline=30.0) as client:
            queue = list(range(64))

            async def worker() -> None:
                nonlocal slowest_failure
                while queue:
                    i = queue.pop(0)
                    started = time.monotonic()
                    try:
                        await client.generate(f"a paper crane, take {i}")
                        outcomes["ok"] += 1
                    except GenGuardError as error:
                        outcomes[type(error).__name__] += 1
                        slowest_failure = max(slowest_failure, time.monotonic() - started)

            await asyncio.gather(*(worker() for _ in range(16)))
        learned = limiter.learned_rate(f"gemini/{provider.model}")
    print(f"{profile}: {dict(outcomes)}; server saw {sim.requests} requests")
    if learned is not None:
        print(f"  learned rate: {learned:.1f} requests/s")
    if slowest_failure:
        print(f"  slowest failure: {slowest_failure * 1000:.0f} ms")


async def main() -> None:
    await run("ratelimit", rate=20.0)
    await run("quota", images=32)


if __name__ == "__main__":
    asyncio.run(main())
