"""The budget layer over real HTTP to the simulator, with the memory store.

The simulator's bill is the judge: whatever the concurrency, faults and
retries, one process never spends more than its budget.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard import Client, RecordingObserver
from genguard.billing import ResubmitPolicy
from genguard.clock import FakeClock
from genguard.errors import BudgetExceeded, ConfigError, GenGuardError, PriceUnknown
from genguard.layers.budget import BudgetLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.timeout import TimeoutLayer
from genguard.model import GenerationRequest
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.sim.replies import Reply
from genguard.state.budget import BudgetLimit, MemoryBudgetStore, parse_limits, window_span


async def _spend(
    client: Client, calls: int, tenant: str = "acme", **fields: object
) -> dict[str, int]:
    tally = {"ok": 0, "budget": 0, "other": 0}

    async def one(i: int) -> None:
        try:
            await client.generate(
                GenerationRequest(prompt=f"a tin robot, take {i}", metadata={"tenant": tenant}),
                **fields,
            )
        except BudgetExceeded:
            tally["budget"] += 1
        except GenGuardError:
            tally["other"] += 1
        else:
            tally["ok"] += 1

    await asyncio.gather(*(one(i) for i in range(calls)))
    return tally


@pytest.mark.parametrize("profile", ["clean", "flaky", "slow"])
async def test_one_process_never_overspends(profile: str) -> None:
    options: dict[str, object] = {
        "clean": {},
        "flaky": {"failure_rate": 0.4, "resets": 0.5, "max_hint": 0.05},
        "slow": {"fraction": 0.4, "delay": 0.3},
    }[profile]
    limit = Decimal("0.50")
    async with Simulator(profile, seed=11, **options) as sim:  # type: ignore[arg-type]
        budget = BudgetLayer({"minute": limit, "day": "100"}, store=MemoryBudgetStore())
        layers: list[Layer] = [
            RetryLayer(attempts=4, initial=0.001, max_delay=0.01),
            budget,
            TimeoutLayer(0.1),
        ]
        async with Client(GeminiProvider("k", base_url=sim.base_url), layers) as client:
            tally = await _spend(client, 40)
            left = await budget.remaining("acme", client.clock.wall())
    assert tally["budget"] > 0  # the budget did bind
    assert sim.ledger.total <= limit
    assert Decimal(0) <= left["minute"] < Decimal("0.05")
    assert left["day"] == Decimal(100) - (limit - left["minute"])


async def test_refusal_reaches_no_provider_and_is_never_retried() -> None:
    recorder = RecordingObserver()
    async with Simulator("clean") as sim:
        budget = BudgetLayer({"minute": "0.05"})
        layers: list[Layer] = [RetryLayer(attempts=5, initial=0.001), budget]
        provider = OpenAIProvider("k", base_url=sim.base_url)
        async with Client(provider, layers, observer=recorder) as client:
            await client.generate("one", options={"quality": "low"}, metadata={"tenant": "t"})
            requests = sim.requests
            with pytest.raises(BudgetExceeded) as caught:
                await client.generate("two", options={"quality": "high"}, metadata={"tenant": "t"})
            assert sim.requests == requests  # nothing was sent
            # another tenant has its own budget
            await client.generate("three", options={"quality": "low"}, metadata={"tenant": "u"})
    error = caught.value
    assert error.tenant == "t" and error.window == "minute"
    assert error.requested > error.remaining
    assert error.billing == "not_sent" and not error.retryable
    assert error.retry_at is not None and error.retry_at % 60 == 0
    assert len([e for e in recorder.events if e.name == "attempt_started"]) == 3
    remaining = [f for f in recorder.of("budget_remaining") if f["tenant"] == "t"]
    assert remaining and remaining[-1]["window"] == "minute"


async def test_settle_returns_the_unused_reservation() -> None:
    async with Simulator("clean") as sim:
        budget = BudgetLayer({"day": "1.00"})
        async with Client(GeminiProvider("k", base_url=sim.base_url), [budget]) as client:
            await client.generate("a cat", metadata={"tenant": "x"})
            left = await budget.remaining("x", client.clock.wall())
    assert left["day"] == Decimal("1.00") - sim.ledger.total


async def test_uncertain_attempts_are_counted_as_billed() -> None:
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.reset()])
        budget = BudgetLayer({"day": "1.00"})
        retry = RetryLayer(attempts=3, initial=0.001, resubmit=ResubmitPolicy(1))
        async with Client(GeminiProvider("k", base_url=sim.base_url), [retry, budget]) as client:
            result = await client.generate("a cat", metadata={"tenant": "x"})
            left = await budget.remaining("x", client.clock.wall())
    assert result.cost is not None and result.cost.possibly_billed > 0
    counted = Decimal("1.00") - left["day"]
    # the lost attempt keeps its whole reservation: at least what it may have cost
    assert counted >= result.cost.total
    assert counted >= sim.ledger.total
    assert counted - result.cost.settled < Decimal("0.05")  # one reservation, no more


async def test_unknown_model_cannot_be_reserved() -> None:
    async with Simulator("clean") as sim:
        budget = BudgetLayer({"day": "1.00"})
        async with Client(GeminiProvider("k", base_url=sim.base_url), [budget]) as client:
            with pytest.raises(PriceUnknown):
                await client.generate("a cat", model="gemini-9-imaginary")
            assert sim.requests == 0


async def test_tenant_from_the_partition_key_and_per_tenant_limits() -> None:
    async with Simulator("clean") as sim:
        budget = BudgetLayer({"day": "0.01"}, tenant="key", tenants={})
        async with Client(GeminiProvider("k", base_url=sim.base_url), [budget]) as client:
            with pytest.raises(BudgetExceeded) as caught:
                await client.generate("a cat")
    assert caught.value.tenant == "gemini/gemini-2.5-flash-image"
    vip = BudgetLayer({"day": "0.01"}, tenants={"vip": {"day": "5"}})
    assert vip.limits_for("vip") == (BudgetLimit("day", Decimal(5)),)
    assert vip.limits_for("other") == (BudgetLimit("day", Decimal("0.01")),)


def test_windows_are_calendar_windows_in_utc() -> None:
    wall = 1_767_225_599.5  # 2025-12-31T23:59:59.5Z
    assert window_span("minute", wall) == (f"m{int(wall // 60)}", 1_767_225_600.0)
    assert window_span("day", wall) == ("d20251231", 1_767_225_600.0)
    assert window_span("month", wall) == ("M202512", 1_767_225_600.0)
    assert window_span("hour", wall)[1] == 1_767_225_600.0
    assert window_span("month", 1_767_225_600.0)[0] == "M202601"


def test_a_new_window_starts_from_zero() -> None:
    store = MemoryBudgetStore()
    limits = (BudgetLimit("minute", Decimal("1")),)
    clock = FakeClock()
    wall = clock.wall()
    assert store.reserve_now("t", limits, Decimal("0.9"), wall).__class__.__name__ == "Grant"
    assert store.reserve_now("t", limits, Decimal("0.2"), wall).__class__.__name__ == "Refusal"
    assert store.reserve_now("t", limits, Decimal("0.2"), wall + 60).__class__.__name__ == "Grant"


@pytest.mark.parametrize(
    "spec",
    [{}, {"week": 1}, {"day": "-1"}, {"day": "lots"}, {"day": True}, {"day": "1e7"}, "10"],
)
def test_bad_limits_are_config_errors(spec: object) -> None:
    with pytest.raises(ConfigError):
        parse_limits(spec)
    with pytest.raises(ConfigError):
        BudgetLayer(spec)  # type: ignore[arg-type]


def test_memory_store_forgets_the_least_recent_tenant_beyond_its_bound() -> None:
    store = MemoryBudgetStore(max_tenants=2)
    limits = (BudgetLimit("day", Decimal("1")),)
    for tenant in ("a", "b", "c"):
        store.reserve_now(tenant, limits, Decimal("0.5"), 0.0)
    assert repr(store) == "MemoryBudgetStore(tenants=2)"


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["minute", "hour", "day", "month", "week", ""]),
            st.one_of(
                st.text(max_size=8),
                st.integers(-10, 10**8),
                st.floats(allow_nan=True),
                st.booleans(),
                st.none(),
                st.decimals(allow_nan=True),
            ),
        ),
        st.text(max_size=5),
        st.integers(),
        st.none(),
    )
)
def test_limit_parser_never_fails_untyped(spec: object) -> None:
    try:
        limits = parse_limits(spec)
    except ConfigError:
        return
    assert limits and all(Decimal(0) <= limit.amount <= Decimal(1_000_000) for limit in limits)
