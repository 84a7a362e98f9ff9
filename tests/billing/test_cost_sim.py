"""genguard's ledger against the simulator's bill, over real HTTP on 127.0.0.1.

The simulator bills every generation it completed, including those whose
answer the client never got (reset after the work, body cut off, stalled until
the client gave up). genguard must account for every one of them: settled
(billed, from usage) plus possibly billed (uncertain attempts, from the
estimate) equals the bill to the cent, and the settled amount alone never
exceeds it.

One case is uncertain by nature: an attempt whose timeout fires before its
request reached the server (on a loaded machine, a 0.1 s timeout can) is
possibly billed for genguard and never billed by the server. The checks below
stop the simulator first (so every handler has ended and been billed), then
compare call by call, counting such attempts from the server's own request log,
so they hold whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from decimal import Decimal

import pytest

from genguard import Client
from genguard.billing import CallLedger, Cost, ResubmitPolicy
from genguard.errors import GenGuardError
from genguard.layers.retry import RetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.model import GenerationRequest
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply

CENT = Decimal("0.01")


def _provider(api: str, base_url: str) -> GeminiProvider | OpenAIProvider:
    if api == "gemini":
        return GeminiProvider("test-key", base_url=base_url)
    return OpenAIProvider("test-key", base_url=base_url)


async def _run(
    sim: Simulator, api: str, layers: list[Layer], calls: int, concurrency: int = 4
) -> tuple[Cost, list[CallLedger], int]:
    """Run ``calls`` calls; return the summed cost, each call's ledger and the failures."""
    cost, tracked, failures = await _run_tracked(sim, api, layers, calls, concurrency)
    return cost, [ledger for _, ledger in tracked], failures


async def _run_tracked(
    sim: Simulator, api: str, layers: list[Layer], calls: int, concurrency: int
) -> tuple[Cost, list[tuple[str, CallLedger]], int]:
    """As ``_run``, each ledger beside its call's prompt (every call has its own)."""
    ledgers: list[tuple[str, CallLedger]] = []
    failures = 0
    gate = asyncio.Semaphore(concurrency)
    async with Client(_provider(api, sim.base_url), layers) as client:
        original = client.new_call

        def tracked(request: GenerationRequest):  # type: ignore[no-untyped-def]
            call = original(request)
            ledgers.append((request.prompt, call.billing))
            return call

        client.new_call = tracked  # type: ignore[method-assign]

        async def one(i: int) -> None:
            nonlocal failures
            async with gate:
                try:
                    await client.generate(
                        f"a lighthouse at dusk, study {i}", options={"quality": "low"}
                    )
                except GenGuardError:
                    failures += 1

        await asyncio.gather(*(one(i) for i in range(calls)))
    total = Cost()
    for _, ledger in ledgers:
        total = total + ledger.cost()
    return total, ledgers, failures


def assert_matches_bill(cost: Cost, sim: Simulator) -> None:
    bill = sim.ledger.total
    assert cost.unpriced == 0
    assert abs(cost.total - bill) < CENT / 2, (cost, bill)
    assert cost.settled <= bill


async def assert_each_call_matches_bill(
    tracked: list[tuple[str, CallLedger]], sim: Simulator
) -> int:
    """Call by call: settled plus the possibly billed attempts that reached the
    server equals what the server billed for that prompt. Returns how many
    possibly billed attempts never reached it (timed out on the way)."""
    await sim.stop()  # every handler has ended: a stall the client left is billed
    arrived = Counter(record.prompt for record in sim.log)
    billed: dict[str, Decimal] = {}
    for issued in sim.ledger.bills:
        billed[issued.prompt] = billed.get(issued.prompt, Decimal(0)) + issued.amount
    never_arrived = 0
    for prompt, ledger in tracked:
        cost = ledger.cost()
        assert cost.unpriced == 0
        charged = [c for c in ledger.charges if c.status in ("billed", "uncertain")]
        uncertain = [c for c in charged if c.status == "uncertain"]
        lost = len(charged) - arrived[prompt]  # sent, but never seen by the server
        assert 0 <= lost <= len(uncertain), (prompt, ledger, arrived[prompt])
        amounts = {c.amount for c in uncertain}
        assert len(amounts) <= 1  # one request, one estimate
        estimate = next(iter(amounts)) if amounts else Decimal(0)
        assert estimate is not None
        expected = cost.total - lost * estimate
        bill = billed.get(prompt, Decimal(0))
        assert abs(expected - bill) < CENT / 2, (prompt, ledger, bill, lost)
        assert cost.settled <= bill
        never_arrived += lost
    return never_arrived


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_flaky_with_resets_settled_plus_possible_is_the_bill(api: str) -> None:
    async with Simulator("flaky", seed=7, failure_rate=0.4, resets=0.5, max_hint=0.05) as sim:
        layers: list[Layer] = [RetryLayer(attempts=6, initial=0.001, max_delay=0.01)]
        cost, ledgers, _ = await _run(sim, api, layers, calls=40)
        statuses = {c.status for ledger in ledgers for c in ledger.charges}
        assert {"billed", "rejected", "uncertain"} <= statuses  # the run exercised all three
        assert cost.possibly_billed > 0
        assert_matches_bill(cost, sim)
        # the undelivered part of the bill is exactly what genguard called possibly billed
        assert abs(sim.ledger.undelivered - cost.possibly_billed) < CENT / 2


@pytest.mark.parametrize("api", ["gemini", "openai"])
async def test_slow_profile_timeouts_are_possibly_billed(api: str) -> None:
    async with Simulator("slow", seed=3, fraction=0.4, delay=0.4, record=True) as sim:
        layers: list[Layer] = [
            RetryLayer(attempts=4, initial=0.001, max_delay=0.01),
            TimeoutLayer(0.1),
        ]
        cost, tracked, _ = await _run_tracked(sim, api, layers, calls=24, concurrency=8)
        ledgers = [ledger for _, ledger in tracked]
        assert any(c.status == "uncertain" for ledger in ledgers for c in ledger.charges)
        never_arrived = await assert_each_call_matches_bill(tracked, sim)
        if never_arrived == 0:  # the usual case: the whole bill, to the cent
            assert_matches_bill(cost, sim)
        # resubmits after a possibly-billed attempt are capped at one per call
        assert all(ledger.possibly_billed_duplicates <= 1 for ledger in ledgers)
        assert any(ledger.possibly_billed_duplicates == 1 for ledger in ledgers)


async def test_never_resubmits_when_told_never() -> None:
    async with Simulator("slow", seed=3, fraction=1.0, delay=0.3, record=True) as sim:
        layers: list[Layer] = [
            RetryLayer(attempts=4, initial=0.001, resubmit=ResubmitPolicy.never()),
            TimeoutLayer(0.05),
        ]
        _, tracked, failures = await _run_tracked(sim, "gemini", layers, 3, 4)
        assert failures == 3
        assert [len(ledger.charges) for _, ledger in tracked] == [1, 1, 1]
        never_arrived = await assert_each_call_matches_bill(tracked, sim)
        # each generation that reached the server was billed once, never twice
        assert len(sim.ledger) == 3 - never_arrived


async def test_each_reply_gets_its_billing_status() -> None:
    async with Simulator("clean") as sim:
        sim.script(
            "gemini",
            [
                Reply.status(429, retry_info="0s"),
                Reply.reset(),
                Reply.truncated(keep=0.5),
                Reply.status(503),
                Reply.ok(),
            ],
        )
        layers: list[Layer] = [
            RetryLayer(attempts=6, initial=0.001, resubmit=ResubmitPolicy(max_resubmits=5))
        ]
        cost, ledgers, failures = await _run(sim, "gemini", layers, calls=1, concurrency=1)
        assert failures == 0
        assert [c.status for c in ledgers[0].charges] == [
            "rejected",
            "uncertain",
            "uncertain",
            "rejected",
            "billed",
        ]
        assert ledgers[0].possibly_billed_duplicates == 2
        assert len(sim.ledger) == 3
        assert_matches_bill(cost, sim)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_connection_refused_is_not_sent_and_costs_nothing() -> None:
    provider = GeminiProvider("test-key", base_url=f"http://127.0.0.1:{_closed_port()}")
    async with Client(provider, [RetryLayer(attempts=2, initial=0.001)]) as client:
        with pytest.raises(GenGuardError) as caught:
            await client.generate("a cat")
    assert caught.value.billing == "not_sent"
    assert caught.value.cost is None  # nothing was billed, so the error carries no cost


async def test_result_and_error_carry_cost() -> None:
    async with Simulator("clean") as sim, Client(_provider("openai", sim.base_url)) as client:
        result = await client.generate("a red kite", options={"quality": "high"})
        assert result.cost is not None
        assert result.cost.settled == sim.ledger.total
        assert result.cost.possibly_billed == 0
        sim.script("openai", [Reply.reset()])
        with pytest.raises(GenGuardError) as caught:
            await client.generate("a red kite", options={"quality": "high"})
        assert caught.value.billing == "uncertain"
        assert caught.value.cost is not None
        assert caught.value.cost.possibly_billed > 0
        assert caught.value.cost.settled == 0


async def test_gemini_3_image_size_prices_the_lost_answer() -> None:
    async with Simulator("clean") as sim, Client(_provider("gemini", sim.base_url)) as client:
        sim.script("gemini", [Reply.reset()])
        retry = RetryLayer(attempts=2, initial=0.001)
        async with Client(_provider("gemini", sim.base_url), [retry]) as retrying:
            result = await retrying.generate("a glacier", model="gemini-3-pro-image", size="4K")
        small = await client.generate("a glacier", model="gemini-3-pro-image", size="1K")
    assert result.usage.image_tokens == 2000 and small.usage.image_tokens == 1120
    assert result.cost is not None
    assert result.cost.possibly_billed >= 2000 * Decimal(120) / 1_000_000
    assert_matches_bill(result.cost + (small.cost or Cost()), sim)
