"""RedisBreakerStore against a real redis-server: the breaker's semantics exactly as the memory
store has them (checked op by op on random sequences), shared by every replica."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from genguard.state.breaker import BreakerPolicy, BreakerStore, MemoryBreakerStore, Permit
from genguard.state.redis import RedisBreakerStore
from redis_server import RedisServer

pytestmark = pytest.mark.redis

KEY = "gemini/gemini-2.5-flash-image"
Make = Callable[..., RedisBreakerStore]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
async def make(server: RedisServer) -> AsyncIterator[Make]:
    made: list[RedisBreakerStore] = []
    namespace = f"t{uuid.uuid4().hex[:8]}"

    def build(**options: object) -> RedisBreakerStore:
        options.setdefault("namespace", namespace)
        store = RedisBreakerStore.from_url(server.url, **options)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield build
    for store in made:
        await store.aclose()


def test_redis_store_implements_the_protocol(make: Make) -> None:
    assert isinstance(make(), BreakerStore)


# -- differential: the same answers as the memory store, op by op -------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, 0)),
        st.tuples(st.sampled_from(["success", "failure", "ignored"]), st.integers(0, 50)),
        st.tuples(st.just("advance"), st.integers(1, 40)),
    ),
    max_size=100,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=operations,
    fail_max=st.integers(1, 4),
    probes=st.integers(1, 3),
    threshold=st.integers(1, 3),
    ratio=st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0])),
)
def test_redis_and_memory_agree_on_any_interleaving(
    server: RedisServer,
    ops: list[tuple[str, int]],
    fail_max: int,
    probes: int,
    threshold: int,
    ratio: float | None,
) -> None:
    policy = BreakerPolicy(
        fail_max=fail_max,
        reset_timeout=1.0,
        half_open_probes=probes,
        success_threshold=threshold,
        failure_ratio=ratio,
        window=5.0,
        min_calls=3,
    )
    asyncio.run(_agree(server.url, ops, policy))


async def _agree(url: str, ops: list[tuple[str, int]], policy: BreakerPolicy) -> None:
    memory = MemoryBreakerStore()
    # Caller time (as the memory store has) and leases longer than any sequence.
    redis = RedisBreakerStore.from_url(
        url, namespace=f"d{uuid.uuid4().hex[:8]}", server_time=False, probe_lease=1e6
    )
    now = 0.0
    outstanding: list[tuple[Permit, Permit]] = []
    try:
        for op, arg in ops:
            if op == "advance":
                now += arg / 10
            elif op == "acquire":
                a = await memory.acquire(KEY, policy, now)
                b = await redis.acquire(KEY, policy, now)
                assert (b.allowed, b.state, b.transitions) == (a.allowed, a.state, a.transitions)
                assert b.retry_after == pytest.approx(a.retry_after, abs=1e-9)
                if a.permit is not None and b.permit is not None:
                    assert (b.permit.epoch, b.permit.probe) == (a.permit.epoch, a.permit.probe)
                    outstanding.append((a.permit, b.permit))
            elif outstanding:
                pa, pb = outstanding.pop(arg % len(outstanding))
                ta = await memory.record(pa, op, policy, now)  # type: ignore[arg-type]
                tb = await redis.record(pb, op, policy, now)  # type: ignore[arg-type]
                assert tb == ta, op
            sa = await memory.snapshot(KEY, policy, now)
            sb = await redis.snapshot(KEY, policy, now)
            assert sb == sa
    finally:
        await redis.aclose()


# -- what Redis adds: one breaker for the fleet ---------------------------------------------------


async def test_a_trip_in_one_replica_sheds_load_in_all(make: Make) -> None:
    one, two = make(), make()
    policy = BreakerPolicy(fail_max=2, reset_timeout=30)
    for _ in range(2):
        admission = await one.acquire(KEY, policy, 0.0)
        assert admission.permit is not None
        transitions = await one.record(admission.permit, "failure", policy, 0.0)
    assert [t.new for t in transitions] == ["open"]
    refused = await two.acquire(KEY, policy, 123.0)  # another process, another clock
    assert not refused.allowed and refused.state == "open"
    assert 29.0 < refused.retry_after <= 30.0  # on Redis time, not the caller's


async def test_half_open_probes_are_limited_across_replicas_and_leased(make: Make) -> None:
    replicas = [make(server_time=False, probe_lease=5.0) for _ in range(3)]
    policy = BreakerPolicy(fail_max=1, reset_timeout=1, half_open_probes=2)
    first = await replicas[0].acquire(KEY, policy, 0.0)
    assert first.permit is not None
    await replicas[0].record(first.permit, "failure", policy, 0.0)
    answers = [await r.acquire(KEY, policy, 1.0) for r in replicas]
    assert [a.allowed for a in answers] == [True, True, False]
    assert (await replicas[2].snapshot(KEY, policy, 1.0)).probes_in_flight == 2
    # The two probing processes die without reporting: their leases run out.
    assert not (await replicas[2].acquire(KEY, policy, 5.9)).allowed
    late = await replicas[2].acquire(KEY, policy, 6.1)
    assert late.permit is not None and late.permit.probe
    assert [t.new for t in await replicas[2].record(late.permit, "success", policy, 6.2)] == [
        "closed"
    ]
    assert (await replicas[0].snapshot(KEY, policy, 6.3)).state == "closed"


async def test_an_outcome_from_before_a_transition_changes_nothing_elsewhere(make: Make) -> None:
    one, two = make(server_time=False), make(server_time=False)
    policy = BreakerPolicy(fail_max=1, reset_timeout=1)
    slow = await one.acquire(KEY, policy, 0.0)  # admitted while closed, answers late
    trip = await two.acquire(KEY, policy, 0.0)
    assert slow.permit is not None and trip.permit is not None
    await two.record(trip.permit, "failure", policy, 0.0)
    assert await one.record(slow.permit, "success", policy, 0.5) == ()
    assert (await one.snapshot(KEY, policy, 0.5)).state == "open"


async def test_keys_are_namespaced_with_a_ttl(make: Make, server: RedisServer) -> None:
    store = make(namespace="ns-c", ttl=60.0)
    policy = BreakerPolicy(fail_max=1, reset_timeout=10, failure_ratio=0.5)
    admission = await store.acquire(KEY, policy, 0.0)
    assert admission.permit is not None
    await store.record(admission.permit, "failure", policy, 0.0)
    async with Redis.from_url(server.url, decode_responses=True) as admin:
        names = sorted(await admin.keys("ns-c:*"))
        assert names == [f"ns-c:cb:{{{KEY}}}", f"ns-c:cb:{{{KEY}}}:w"]
        for name in names:
            # ttl + the longest break (max_reset_timeout, 120 s) + the probe lease (120 s)
            assert 0 < await admin.pttl(name) <= (60 + 120 + 120) * 1000
        assert await admin.hget(f"ns-c:cb:{{{KEY}}}", "st") == "open"


async def test_a_healthy_closed_breaker_costs_one_round_trip_per_report_and_no_writes(
    make: Make, server: RedisServer
) -> None:
    store = make(namespace="ns-d")
    # Consecutive counting only: a failure ratio must count successes, so it writes.
    policy = BreakerPolicy(fail_max=5, failure_ratio=None)
    await store.acquire(KEY, policy, 0.0)  # loads the scripts
    before = store.connection.round_trips
    for _ in range(5):
        admission = await store.acquire(KEY, policy, 0.0)
        assert admission.permit is not None
        await store.record(admission.permit, "success", policy, 0.0)
    assert store.connection.round_trips - before <= 10 + 2  # + one script load
    async with Redis.from_url(server.url) as admin:
        assert await admin.keys("ns-d:*") == []  # nothing stored for a healthy key
