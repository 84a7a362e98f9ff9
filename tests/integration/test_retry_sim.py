"""The retry layer against the simulator over real HTTP on 127.0.0.1.

Each fault profile is checked from the simulator's own records: its count of
requests that came back before the hint allowed (``retry_after_violations``),
its request log (times, statuses, prompts), and what the callers got back.
Calls run one after another where a figure must not depend on scheduling, so a
seeded simulator gives the same faults on every run.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Literal

import pytest

from genguard import Client, RecordingObserver
from genguard.billing import ResubmitPolicy
from genguard.clock import FakeClock
from genguard.errors import ContentBlocked, GenGuardError, ProviderUnavailable, RateLimited
from genguard.layers.retry import RetryLayer
from genguard.layers.retry_budget import RetryBudget
from genguard.layers.timeout import TimeoutLayer
from genguard.pipeline import Layer
from genguard.sim import Simulator
from genguard.sim.replies import Reply
from support import drive, provider_for

Api = Literal["gemini", "openai"]
APIS: tuple[Api, ...] = ("gemini", "openai")


def make_client(
    sim: Simulator,
    api: Api,
    *layers: Layer,
    observer: RecordingObserver | None = None,
    deadline: float | None = None,
    clock: FakeClock | None = None,
) -> Client:
    provider = provider_for(api, sim.base_url)
    return Client(provider, layers, observer=observer, deadline=deadline, clock=clock)


def fast_retry(**options: object) -> RetryLayer:
    """Production shape, loopback scale: short backoff so tests take milliseconds."""
    options.setdefault("initial", 0.01)
    options.setdefault("max_delay", 0.2)
    options.setdefault("rng", random.Random(3))
    return RetryLayer(**options)  # type: ignore[arg-type]


async def run_sequentially(client: Client, prompts: list[str]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = []
    async with client:
        for prompt in prompts:
            try:
                await client.generate(prompt)
                outcomes.append(None)
            except GenGuardError as error:
                outcomes.append(error)
    return outcomes


# -- flaky: >= 99% success at 4 attempts -------------------------------------------------------
async def flaky_run(
    api: Api, calls: int
) -> tuple[list[BaseException | None], Simulator, Counter[int]]:
    rec = RecordingObserver()
    async with Simulator("flaky", seed=11, max_hint=0.05) as sim:
        client = make_client(sim, api, fast_retry(attempts=4), observer=rec)
        outcomes = await run_sequentially(client, [f"a red fox, take {i}" for i in range(calls)])
        attempts = Counter(
            e.fields["result"].attempts if e.fields["result"] else -1
            for e in rec.events
            if e.name == "call_finished"
        )
        assert sim.retry_after_violations == 0
        # A call fails only when all four of its attempts hit a fault, never earlier.
        per_call = Counter(r.prompt for r in sim.log)
        failed = [p for p, o in zip(range(calls), outcomes, strict=True) if o is not None]
        assert all(per_call[f"a red fox, take {i}"] == 4 for i in failed)
        return outcomes, sim, attempts


@pytest.mark.slow
async def test_flaky_profile_succeeds_at_least_99_percent_with_4_attempts() -> None:
    calls = 250
    results = await asyncio.gather(*(flaky_run(api, calls) for api in APIS))
    for api, (outcomes, sim, attempts) in zip(APIS, results, strict=True):
        successes = sum(o is None for o in outcomes)
        assert successes / calls >= 0.99, (api, successes)
        assert sum(n for k, n in attempts.items() if k > 1) > calls * 0.2  # retries did the work
        assert sim.status_counts[503] + sim.status_counts[429] > calls * 0.25
        assert all(isinstance(o, ProviderUnavailable | RateLimited) for o in outcomes if o)


# -- slow: a per-attempt timeout plus retry loses nothing --------------------------------------
async def slow_run(api: Api, calls: int) -> tuple[int, int]:
    async with Simulator("slow", seed=5, fraction=0.1, delay=5.0) as sim:
        # every stalled attempt may have been billed: allow resubmitting all of them here
        retry = fast_retry(attempts=4, resubmit=ResubmitPolicy(3))
        client = make_client(sim, api, retry, TimeoutLayer(0.15), deadline=30)
        outcomes = await run_sequentially(client, [f"a slow tortoise {i}" for i in range(calls)])
        return sum(o is None for o in outcomes), len(sim.log)


@pytest.mark.slow
async def test_slow_profile_with_attempt_timeout_gives_100_percent_success() -> None:
    calls = 100
    results = await asyncio.gather(*(slow_run(api, calls) for api in APIS))
    for successes, requests in results:
        assert successes == calls
        assert requests > calls  # some attempts stalled and were retried


# -- ratelimit and httpdate: zero Retry-After violations ---------------------------------------
async def burst(client: Client, calls: int, tag: str) -> list[BaseException | None]:
    async def one(i: int) -> BaseException | None:
        try:
            await client.generate(f"{tag} {i}")
        except GenGuardError as error:
            return error
        return None

    async with client:
        return await asyncio.gather(*(one(i) for i in range(calls)))


def gave_up_only_after_every_attempt(
    sim: Simulator, tag: str, outcomes: list[BaseException | None], attempts: int
) -> bool:
    """Every failed call is a RateLimited that made all its attempts (no early give-up)."""
    per_prompt = Counter(r.prompt for r in sim.log)
    return all(
        isinstance(o, RateLimited) and per_prompt[f"{tag} {i}"] == attempts
        for i, o in enumerate(outcomes)
        if o is not None
    )


@pytest.mark.parametrize(
    ("api", "source"), [("gemini", "retry-info"), ("openai", "retry-after-ms")]
)
async def test_ratelimit_profile_gives_zero_retry_after_violations(api: Api, source: str) -> None:
    rec = RecordingObserver()
    async with Simulator("ratelimit", rate=40, burst=2) as sim:
        retry = fast_retry(attempts=8, max_delay=0.5)
        client = make_client(sim, api, retry, observer=rec, deadline=10)
        outcomes = await burst(client, 24, "a queue of cats")
        assert sim.status_counts[429] >= 10  # the limit really bit
        assert sim.retry_after_violations == 0
        assert {e["hint_source"] for e in rec.of("retry_scheduled")} == {source}
        # A burst beyond the server's rate is the rate limiter's job; retry's is to
        # obey every hint and use all its attempts, and most calls get through.
        assert gave_up_only_after_every_attempt(sim, "a queue of cats", outcomes, 8)
        assert sum(o is None for o in outcomes) >= 12


async def httpdate_run(api: Api) -> None:
    rec = RecordingObserver()
    async with Simulator("httpdate", seed=2, failure_rate=0.5, delay=0.0) as sim:
        client = make_client(sim, api, fast_retry(attempts=4), observer=rec, deadline=20)
        outcomes = await burst(client, 16, "a calendar")
        assert len([r for r in sim.log if r.status in (429, 503)]) >= 5
        assert sim.retry_after_violations == 0
        assert {e["hint_source"] for e in rec.of("retry_scheduled")} == {"retry-after"}
        per_prompt = Counter(r.prompt for r in sim.log)
        assert all(per_prompt[f"a calendar {i}"] == 4 for i, o in enumerate(outcomes) if o)
        assert sum(o is None for o in outcomes) >= 11  # each attempt fails half the time


@pytest.mark.slow
async def test_httpdate_profile_gives_zero_retry_after_violations() -> None:
    # all three RFC 9110 date forms, on 429 and 503, for both APIs at once
    await asyncio.gather(*(httpdate_run(api) for api in APIS))


# -- one retry per hint type, timed from the simulator's log -----------------------------------
HINTED: list[tuple[Api, Reply, float, str]] = [
    ("gemini", Reply.status(429, retry_info="0.35s"), 0.35, "retry-info"),
    ("gemini", Reply.status(503, retry_after="1"), 1.0, "retry-after"),
    ("openai", Reply.status(429, retry_after_ms=300), 0.3, "retry-after-ms"),
    (
        "openai",
        Reply.status(
            429,
            headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "400ms"},
        ),
        0.4,
        "x-ratelimit-reset",
    ),
]


@pytest.mark.parametrize(("api", "reply", "hint", "source"), HINTED, ids=[h[3] for h in HINTED])
async def test_each_hint_type_sets_the_floor_of_the_next_attempt(
    api: Api, reply: Reply, hint: float, source: str
) -> None:
    rec = RecordingObserver()
    clock = FakeClock(auto=False)
    async with Simulator("clean", clock=clock) as sim:
        sim.script(api, [reply])
        client = make_client(sim, api, fast_retry(initial=0.001), observer=rec, clock=clock)
        async with client:
            (result,) = await drive(clock, [client.generate("a weathervane")])
        assert not isinstance(result, BaseException) and result.attempts == 2
        first, second = sim.log
        (scheduled,) = rec.of("retry_scheduled")
        assert scheduled["hint_source"] == source
        # On the shared fake clock the gap is exactly what the layer slept: the hint,
        # plus its jitter.
        assert second.time - first.time == pytest.approx(scheduled["delay"])
        assert hint <= scheduled["delay"] <= hint + 0.5
        assert sim.retry_after_violations == 0


async def test_hint_longer_than_the_deadline_fails_fast_with_rate_limited() -> None:
    clock = FakeClock(auto=False)
    async with Simulator("outage", duration=60, retry_after=30, clock=clock) as sim:
        client = make_client(sim, "openai", fast_retry(), deadline=5, clock=clock)
        started = clock.now()
        async with client:
            (error,) = await drive(clock, [client.generate("a lighthouse")])
        assert clock.now() == started  # failed fast: it never slept, not even briefly
        assert isinstance(error, RateLimited)
        assert error.retry_after == pytest.approx(30, abs=1)
        assert isinstance(error.__cause__, ProviderUnavailable)
        assert len(sim.log) == 1


# -- safety: blocked prompts are never retried -------------------------------------------------
@pytest.mark.parametrize("api", APIS)
async def test_safety_profile_never_retries_a_blocked_prompt(api: Api) -> None:
    async with Simulator("safety", fraction=0.4) as sim:
        client = make_client(sim, api, fast_retry())
        prompts = [f"a garden, variation {i}" for i in range(30)] + ["violence-test scene"]
        outcomes = await run_sequentially(client, prompts)
        blocked = [
            p for p, o in zip(prompts, outcomes, strict=True) if isinstance(o, ContentBlocked)
        ]
        assert len(blocked) >= 5 and "violence-test scene" in blocked
        assert all(o is None or isinstance(o, ContentBlocked) for o in outcomes)
        per_prompt = Counter(r.prompt for r in sim.log)
        assert all(per_prompt[p] == 1 for p in prompts)  # zero retries, blocked or not


# -- outage: the budget keeps retries to a fraction of calls -----------------------------------
OUTAGE = 1.5
RATIO = 0.2
MIN_PER_S = 0.5
TTL = 10.0


async def outage_run(budget: RetryBudget | None) -> tuple[int, int, int]:
    """Open-loop traffic (one new call every 25 ms of virtual time) through a 1.5 s outage.

    Returns (calls that met the outage, upstream requests during it, successes).
    """
    clock = FakeClock(auto=False)
    async with Simulator("outage", duration=OUTAGE, clock=clock) as sim:
        client = make_client(
            sim,
            "gemini",
            fast_retry(attempts=4, initial=0.05, budget=budget),
            deadline=10,
            clock=clock,
        )
        successes = 0

        async def one(i: int) -> None:
            nonlocal successes
            await clock.sleep(i * 0.025)
            try:
                await client.generate(f"a dark city, call {i}")
                successes += 1
            except GenGuardError:
                pass

        async with client:
            outcomes = await drive(clock, [one(i) for i in range(int(OUTAGE / 0.025))])
        assert outcomes == [None] * len(outcomes)
        during = [r for r in sim.log if r.status == 503]
        return len({r.prompt for r in during}), len(during), successes


async def test_outage_with_budget_keeps_upstream_requests_within_the_budget() -> None:
    budget = RetryBudget(ratio=RATIO, min_per_s=MIN_PER_S, ttl=TTL)
    calls, upstream, _ = await outage_run(budget)
    calls_nb, upstream_nb, _ = await outage_run(None)
    retries = upstream - calls
    # retries <= ratio * calls + min_per_s * ttl (the outage is shorter than one ttl)
    assert retries <= RATIO * calls + MIN_PER_S * TTL
    assert calls >= 30  # most of the 60 calls met the outage
    # without a budget the same outage sees every call retried to the attempt limit
    assert upstream_nb - calls_nb > 2 * calls_nb
    assert upstream < upstream_nb / 2
