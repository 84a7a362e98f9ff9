"""A tour of the embedded simulator's faults, and a client that survives them.

Runs without API keys, in a few seconds:

    python examples/simulator_faults.py

Part 1 talks to the simulator with plain aiohttp, to show what each fault looks
like on the wire. Part 2 puts genguard's retry layer in front of the `flaky`
profile and checks with the simulator's own accounting that every server retry
hint was honoured.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp

from genguard import Client, GenerationRequest, GenGuardError
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Reply, Simulator

GEMINI = "/v1beta/models/gemini-2.5-flash-image:generateContent"
HEADERS = {"x-goog-api-key": "any-key"}


def body(prompt: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}


async def show(http: aiohttp.ClientSession, sim: Simulator, label: str, prompt: str) -> None:
    """Send one Gemini request and print what came back."""
    try:
        async with http.post(sim.base_url + GEMINI, json=body(prompt), headers=HEADERS) as resp:
            raw = await resp.read()
            hint = resp.headers.get("Retry-After")
            extra = f", Retry-After: {hint}" if hint else ""
            print(f"  {label:<28} {resp.status} ({len(raw)} bytes{extra}) {raw[:60]!r}")
    except aiohttp.ClientError as exc:
        print(f"  {label:<28} {type(exc).__name__}: {exc}")


async def wire_tour() -> None:
    print("Part 1: faults on the wire")
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        sim.script(
            "gemini",
            [
                Reply.status(429, retry_info="0.25s"),
                Reply.status(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
                Reply.reset(),
                Reply.truncated(),
                Reply.html(502),
                Reply.delay(0.3, before="body"),
            ],
        )
        for label in (
            "429 with RetryInfo",
            "503 with an HTTP-date",
            "connection reset",
            "truncated body",
            "proxy HTML page",
            "slow body (0.3 s stall)",
            "clean again",
        ):
            await show(http, sim, label, label)

        sim.set_profile("safety", fraction=0.0)
        await show(http, sim, "safety: ordinary prompt", "a calm lake at dawn")
        await show(http, sim, "safety: block word", "a violence-test scene")

        sim.set_profile("ratelimit", rate=5, burst=1)
        for i in range(3):
            await show(http, sim, f"ratelimit request {i + 1}", f"burst {i}")
        print(f"  log: {[r.status for r in sim.log]}")


async def resilient_client() -> None:
    print("\nPart 2: genguard's retry layer against the flaky profile")
    async with Simulator("flaky", failure_rate=0.4, seed=11) as sim:
        provider = GeminiProvider("any-key", base_url=sim.base_url)
        retry = RetryLayer(attempts=6, initial=0.05, max_delay=0.5)
        outcomes: Counter[str] = Counter()
        async with Client(provider, layers=[retry], deadline=20.0) as client:

            async def one(i: int) -> None:
                try:
                    result = await client.generate(GenerationRequest(prompt=f"a red fox #{i}"))
                    outcomes[f"ok after {result.attempts} attempt(s)"] += 1
                except GenGuardError as exc:
                    outcomes[type(exc).__name__] += 1

            await asyncio.gather(*(one(i) for i in range(20)))
        statuses = Counter(r.status for r in sim.log)
        print(f"  calls: {dict(sorted(outcomes.items()))}")
        print(f"  the simulator saw {len(sim.log)} requests: {dict(sorted(statuses.items()))}")
        print(f"  retry hints ignored: {sim.retry_after_violations}")


async def main() -> None:
    await wire_tour()
    await resilient_client()


if __name__ == "__main__":
    asyncio.run(main())
