"""Gemini first, OpenAI when Gemini is down: circuit breaker plus fallback, on the simulator.

Runs without API keys: two embedded simulators stand in for the APIs. Gemini's is
in an outage (every request 503) for the first 3 seconds, then recovers. Calls go
to OpenAI while Gemini's breaker is open, and back to Gemini once a probe succeeds.

    python examples/fallback_gemini_openai.py
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from genguard import Call, Client, Observer
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.fallback import FallbackLayer, FallbackTarget
from genguard.layers.timeout import TimeoutLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.providers.transport import HttpTransport
from genguard.sim import Simulator

OUTAGE = 3.0
RUN_FOR = 5.0
CONCURRENCY = 4


class Narrator(Observer):
    """Prints breaker changes as they happen."""

    def __init__(self, started: float) -> None:
        self.started = started

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        at = time.monotonic() - self.started
        print(f"  t={at:4.1f}s breaker {key}: {old} -> {new} ({reason})")


async def main() -> None:
    async with (
        Simulator(profile="outage", duration=OUTAGE) as gemini_sim,
        Simulator(profile="clean") as openai_sim,
    ):
        started = time.monotonic()
        transport = HttpTransport()  # one HTTP session for both providers
        openai = FallbackTarget(
            OpenAIProvider("sim-openai-key", base_url=openai_sim.base_url),
            layers=[CircuitBreakerLayer(fail_max=5, reset_timeout=30), TimeoutLayer(60)],
        )
        client = Client(
            GeminiProvider("sim-gemini-key", base_url=gemini_sim.base_url),
            layers=[
                FallbackLayer([openai], transport=transport),
                CircuitBreakerLayer(fail_max=3, reset_timeout=1.0, half_open_probes=1),
                TimeoutLayer(60),
            ],
            observer=Narrator(started),
            transport=transport,
        )
        served_by: Counter[tuple[int, str]] = Counter()

        async def caller(index: int) -> None:
            n = 0
            while time.monotonic() - started < RUN_FOR:
                n += 1
                result = await client.generate(f"a lighthouse at dusk ({index}.{n})")
                second = int(time.monotonic() - started)
                served_by[(second, f"{result.provider}/{result.model}")] += 1
                await asyncio.sleep(0.05)

        print(f"Gemini is down for {OUTAGE:g}s; {CONCURRENCY} callers for {RUN_FOR:g}s:")
        try:
            async with client:
                await asyncio.gather(*(caller(i) for i in range(CONCURRENCY)))
        finally:
            await transport.aclose()

        print("\nserved by, per second:")
        for second in range(int(RUN_FOR) + 1):
            row = {name: n for (s, name), n in served_by.items() if s == second}
            if row:
                print(f"  {second}s: " + ", ".join(f"{k} x{v}" for k, v in sorted(row.items())))
        failed = sum(1 for r in gemini_sim.log if r.status == 503)
        print(f"\nGemini received {failed} requests during its outage; no call failed.")


if __name__ == "__main__":
    asyncio.run(main())
