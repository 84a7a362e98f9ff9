"""The rate limiter against the simulator's ``ratelimit`` profile, over loopback HTTP.

The server allows 20 requests/s per API key (a token bucket 3 deep); callers offer
50/s for a few seconds, once with no limiter and once through a 20/s limiter.
Counts come from the simulator's own log: 429s it sent, and 200s it served
inside the offered window (goodput).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import pytest

from genguard import Client, GenerationRequest
from genguard.errors import RateLimited
from genguard.layers.rate_limit import RateLimitLayer
from genguard.pipeline import Layer
from genguard.providers.base import Provider
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Reply, Simulator

SERVER_RATE = 20.0
SERVER_BURST = 3
OFFERED = 50.0
SECONDS = 3.0
DEADLINE = 1.0


@dataclass
class Run:
    server_429s: int
    goodput: float
    client_refusals: int


def provider_for(api: str, sim: Simulator) -> Provider:
    if api == "gemini":
        return GeminiProvider("sim-key", base_url=sim.base_url)
    return OpenAIProvider("sim-key", base_url=sim.base_url)


async def offer_load(api: str, layers: list[Layer]) -> Run:
    """Start a call every 1/OFFERED s for SECONDS; each call has DEADLINE s."""
    async with Simulator("ratelimit", rate=SERVER_RATE, burst=SERVER_BURST) as sim:
        refusals = 0
        async with Client(provider_for(api, sim), layers=layers, deadline=DEADLINE) as client:

            async def one(i: int) -> None:
                nonlocal refusals
                try:
                    await client.generate(GenerationRequest(prompt=f"a kite, take {i}"))
                except RateLimited as error:
                    refusals += error.scope == "client"

            tasks = []
            start = time.monotonic()
            for i in range(int(OFFERED * SECONDS)):
                tasks.append(asyncio.create_task(one(i)))
                await asyncio.sleep(max(0.0, start + (i + 1) / OFFERED - time.monotonic()))
            await asyncio.gather(*tasks)
        served = [r for r in sim.log if r.status == 200 and start <= r.time < start + SECONDS]
        return Run(
            server_429s=sim.status_counts[429],
            goodput=len(served) / SECONDS,
            client_refusals=refusals,
        )


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_the_limiter_cuts_429s_and_keeps_goodput(api: str) -> None:
    bare = await offer_load(api, [])
    limited = await offer_load(api, [RateLimitLayer(requests=f"{SERVER_RATE:g}/s")])
    # Without a limiter the server refuses roughly what is offered beyond its rate.
    assert bare.server_429s >= (OFFERED - SERVER_RATE) * SECONDS * 0.7
    assert limited.server_429s <= bare.server_429s * 0.1
    assert limited.goodput >= 0.95 * SERVER_RATE
    # The excess was refused on the client, at once, instead of by the server.
    assert limited.client_refusals >= (OFFERED - SERVER_RATE) * SECONDS * 0.7


async def test_one_429_holds_back_every_concurrent_caller() -> None:
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.ok(), Reply.status(429, retry_info="1s")])
        layer = RateLimitLayer(requests="20/s")
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, layers=[layer], deadline=5.0) as client:
            outcomes = await asyncio.gather(
                *(client.generate(f"a boat {i}") for i in range(10)), return_exceptions=True
            )
        assert sum(isinstance(o, RateLimited) for o in outcomes) == 1
        assert all(not isinstance(o, BaseException) or isinstance(o, RateLimited) for o in outcomes)
        times = [r.time for r in sim.log]
        statuses = [r.status for r in sim.log]
        assert statuses[:2] == [200, 429]
        limited_at = times[1]
        # Nobody reached the server during the pause, though 8 callers were queued...
        assert times[2] - limited_at >= 1.0 - 0.02
        # ...and afterwards they resumed at the client rate, not all at once.
        gaps = [b - a for a, b in itertools.pairwise(times[2:])]
        assert min(gaps) >= 1 / 20 - 0.01
