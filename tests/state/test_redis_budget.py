"""Budgets on a real redis-server: the same answers as the memory store, atomic under
concurrency, and the fail-open / fail-closed policy when Redis goes away."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from genguard import RecordingObserver
from genguard.errors import StateUnavailable
from genguard.state.budget import (
    BudgetLimit,
    BudgetStore,
    Grant,
    MemoryBudgetStore,
    Refusal,
    tenant_id,
    window_span,
)
from genguard.state.redis_budget import RedisBudgetStore
from redis_server import RedisServer

pytestmark = pytest.mark.redis

WALL = 1_767_225_610.0
MINUTE = (BudgetLimit("minute", Decimal("1.00")),)
BOTH = (BudgetLimit("minute", Decimal("1.00")), BudgetLimit("day", Decimal("1.50")))


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
async def make_redis(server: RedisServer) -> AsyncIterator[Callable[..., RedisBudgetStore]]:
    made: list[RedisBudgetStore] = []
    namespace = f"t{uuid.uuid4().hex[:8]}"

    def make(**options: object) -> RedisBudgetStore:
        options.setdefault("namespace", namespace)
        store = RedisBudgetStore.from_url(server.url, **options)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture(params=["memory", "redis"])
def store(
    request: pytest.FixtureRequest, make_redis: Callable[..., RedisBudgetStore]
) -> BudgetStore:
    if request.param == "memory":
        return MemoryBudgetStore()
    return make_redis()


async def test_reserve_fits_every_window_or_none(store: BudgetStore) -> None:
    granted = await store.reserve("t", BOTH, Decimal("0.80"), WALL)
    assert isinstance(granted, Grant)
    refused = await store.reserve("t", BOTH, Decimal("0.30"), WALL)
    assert isinstance(refused, Refusal) and refused.window == "minute"
    assert refused.remaining == Decimal("0.20")
    # next minute: the minute window is fresh, the day window is not
    nxt = await store.reserve("t", BOTH, Decimal("0.80"), WALL + 60)
    assert isinstance(nxt, Refusal) and nxt.window == "day"
    assert nxt.remaining == Decimal("0.70")
    assert nxt.resets_at == window_span("day", WALL)[1]
    left = await store.remaining("t", BOTH, WALL)
    assert left == {"minute": Decimal("0.20"), "day": Decimal("0.70")}


async def test_settle_replaces_the_reservation(store: BudgetStore) -> None:
    grant = await store.reserve("t", MINUTE, Decimal("0.50"), WALL)
    assert isinstance(grant, Grant)
    await store.settle(grant, Decimal("0.123456789"))
    assert (await store.remaining("t", MINUTE, WALL))["minute"] == Decimal("0.876543211")
    await store.settle(
        await store.reserve("t", MINUTE, Decimal("0.10"), WALL),  # type: ignore[arg-type]
        Decimal(0),
    )
    assert (await store.remaining("t", MINUTE, WALL))["minute"] == Decimal("0.876543211")


async def test_concurrent_reservations_never_pass_the_limit(store: BudgetStore) -> None:
    results = await asyncio.gather(
        *(store.reserve("crowd", MINUTE, Decimal("0.07"), WALL) for _ in range(50))
    )
    granted = [r for r in results if isinstance(r, Grant)]
    assert len(granted) == 14  # 14 * 0.07 = 0.98; a 15th would pass 1.00


@pytest.mark.parametrize("seed", range(6))
async def test_redis_answers_like_memory(
    make_redis: Callable[..., RedisBudgetStore], seed: int
) -> None:
    """A seeded random run of reserves and settles, moving forward in time."""
    rng = random.Random(seed)
    memory = MemoryBudgetStore()
    redis = make_redis(namespace=f"h{uuid.uuid4().hex[:8]}")
    limits = (BudgetLimit("minute", Decimal("3")), BudgetLimit("hour", Decimal("5")))
    wall = WALL
    for _ in range(25):
        tenant = rng.choice("ab")
        amount = Decimal(rng.randint(1, 400)) / 100
        wall += rng.choice([0.0, 0.0, 10.0, 45.0])
        a = await memory.reserve(tenant, limits, amount, wall)
        b = await redis.reserve(tenant, limits, amount, wall)
        assert type(a) is type(b)
        if isinstance(a, Refusal):
            assert isinstance(b, Refusal)
            assert (a.window, a.remaining) == (b.window, b.remaining)
        else:
            assert isinstance(b, Grant)
            actual = min(Decimal(rng.randint(0, 400)) / 100, amount)
            await memory.settle(a, actual)
            await redis.settle(b, actual)
        for who in "ab":
            mine = await memory.remaining(who, limits, wall)
            assert mine == await redis.remaining(who, limits, wall)


async def test_counters_expire_after_their_window(
    make_redis: Callable[..., RedisBudgetStore], server: RedisServer
) -> None:
    store = make_redis()
    await store.reserve("t", BOTH, Decimal("0.10"), WALL)
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        minute_ttl = await client.ttl(store.key("t", window_span("minute", WALL)[0]))
        day_ttl = await client.ttl(store.key("t", window_span("day", WALL)[0]))
    finally:
        await client.aclose()
    assert 0 < minute_ttl <= 60 + 120
    assert 60 < day_ttl <= 86400 + 120


def test_odd_tenant_names_become_digests() -> None:
    assert tenant_id("acme-1") == "acme-1"
    odd = tenant_id("a tenant {with} braces\n")
    assert odd.startswith("sha256-") and "{" not in odd


async def test_redis_down_falls_back_to_local_state(
    make_redis: Callable[..., RedisBudgetStore],
) -> None:
    with RedisServer() as own:
        recorder = RecordingObserver()
        store = RedisBudgetStore.from_url(own.url, observer=recorder, namespace="down")
        try:
            assert isinstance(await store.reserve("t", MINUTE, Decimal("0.5"), WALL), Grant)
            own.kill()
            local = await store.reserve("t", MINUTE, Decimal("0.9"), WALL)
            # the local store knows nothing of Redis's 0.50: it starts from the full limit
            assert isinstance(local, Grant) and not local.remote
            assert store.degraded
            assert isinstance(await store.reserve("t", MINUTE, Decimal("0.2"), WALL), Refusal)
            assert [e["action"] for e in recorder.of("backend_error")] == ["local"]
        finally:
            await store.aclose()


async def test_redis_down_fails_closed_when_told() -> None:
    with RedisServer() as own:
        store = RedisBudgetStore.from_url(own.url, on_backend_error="fail_closed")
        try:
            grant = await store.reserve("t", MINUTE, Decimal("0.5"), WALL)
            assert isinstance(grant, Grant)
            own.kill()
            with pytest.raises(StateUnavailable) as caught:
                await store.reserve("t", MINUTE, Decimal("0.1"), WALL)
            assert caught.value.component == "budget"
            with pytest.raises(StateUnavailable):
                await store.settle(grant, Decimal("0.1"))
        finally:
            await store.aclose()
