"""The rate limiter against the simulator's ``ratelimit`` profile, over loopback HTTP.

The server allows 20 requests/s per API key (a token bucket 3 deep); callers offer
50/s for 3 s, once with no limiter and once through a 20/s limiter. Client, limiter
and simulator share one fake clock that moves only while every caller sleeps, so
each request reaches the server at its exact virtual time and the counts below are
the same on any machine. Real-time goodput is measured in benchmarks/, not here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from genguard import Client, GenerationRequest
from genguard.clock import FakeClock
from genguard.errors import DeadlineExceeded, RateLimited
from genguard.layers.rate_limit import RateLimitLayer
from genguard.pipeline import Layer
from genguard.sim import Reply, Simulator
from support import drive, provider_for

SERVER_RATE = 20.0
SERVER_BURST = 3
OFFERED = 50.0
SECONDS = 3.0
DEADLINE = 1.0
CALLS = int(OFFERED * SECONDS)


@dataclass
class Run:
    server_429s: int
    served: int
    client_refusals: int


async def offer_load(api: str, make_layers: Callable[[], list[Layer]] | None = None) -> Run:
    """Start a call every 1/OFFERED s of virtual time; each call has DEADLINE s."""
    clock = FakeClock(start=0.0, auto=False)
    layers: list[Layer] = [] if make_layers is None else make_layers()
    async with Simulator("ratelimit", rate=SERVER_RATE, burst=SERVER_BURST, clock=clock) as sim:
        refusals = 0
        client = Client(provider_for(api, sim.base_url), layers, deadline=DEADLINE, clock=clock)
        async with client:

            async def one(i: int) -> None:
                nonlocal refusals
                await clock.sleep(i / OFFERED)
                try:
                    await client.generate(GenerationRequest(prompt=f"a kite, take {i}"))
                except RateLimited as error:
                    refusals += error.scope == "client"
                except DeadlineExceeded:
                    pass  # a call slowed by a busy machine ends at its deadline

            outcomes = await drive(clock, [one(i) for i in range(CALLS)])
        assert all(o is None for o in outcomes), [o for o in outcomes if o is not None][:3]
        assert sim.requests + refusals == CALLS  # every call reached the server or was refused
        return Run(sim.status_counts[429], sim.status_counts[200], refusals)


def limited() -> list[Layer]:
    return [RateLimitLayer(requests=f"{SERVER_RATE:g}/s")]


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_the_limiter_moves_the_429s_to_the_client(api: str) -> None:
    bare = await offer_load(api)
    with_limiter = await offer_load(api, limited)
    # Without a limiter the server's bucket admits its burst plus its rate; the rest are 429s.
    admitted = SERVER_BURST + SERVER_RATE * SECONDS
    assert bare.served == pytest.approx(admitted, abs=2)
    assert bare.server_429s == CALLS - bare.served
    # Through the limiter the server never refuses, and serves as much as without it...
    assert with_limiter.server_429s == 0
    assert with_limiter.served >= SERVER_RATE * SECONDS - 1
    # ...because the excess was refused on the client instead.
    assert with_limiter.client_refusals == CALLS - with_limiter.served


async def test_one_429_holds_back_every_concurrent_caller() -> None:
    clock = FakeClock(start=0.0, auto=False)
    async with Simulator("clean", clock=clock) as sim:
        sim.script("gemini", [Reply.ok(), Reply.status(429, retry_info="1s")])
        layer = RateLimitLayer(requests="20/s")
        async with Client(
            provider_for("gemini", sim.base_url), layers=[layer], deadline=5.0, clock=clock
        ) as client:
            outcomes = await drive(clock, [client.generate(f"a boat {i}") for i in range(10)])
        assert sum(isinstance(o, RateLimited) for o in outcomes) == 1
        assert all(not isinstance(o, BaseException) or isinstance(o, RateLimited) for o in outcomes)
        times = [r.time for r in sim.log]
        statuses = [r.status for r in sim.log]
        assert statuses == [200, 429] + [200] * 8
        limited_at = times[1]
        # Nobody reached the server during the pause, though 8 callers were queued...
        assert times[2] - limited_at >= 1.0
        # ...and afterwards they resumed at the client rate, not all at once.
        gaps = [b - a for a, b in itertools.pairwise(times[2:])]
        assert min(gaps) >= 1 / 20 - 1e-9
