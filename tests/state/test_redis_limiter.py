"""RedisLimiterBackend against a real redis-server: the LimiterBackend contract, the same
answers as the memory backend on any sequence of calls, and what only Redis adds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from genguard.clock import FakeClock
from genguard.state import limiter as limiter_module
from genguard.state.limiter import Demand, Limit, LimiterBackend, MemoryLimiterBackend
from genguard.state.redis import RedisLimiterBackend
from redis_server import RedisServer

pytestmark = pytest.mark.redis

REQ = Limit("requests", 10.0)
#: How much longer the admission guard holds a late admission (0 before it existed).
MARGIN = float(getattr(limiter_module, "GUARD_MARGIN", 0.0))
Factory = Callable[[FakeClock], LimiterBackend]


def one(limit: Limit = REQ, amount: float = 1.0) -> list[Demand]:
    return [Demand(limit, amount)]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
async def make_redis(server: RedisServer) -> AsyncIterator[Callable[..., RedisLimiterBackend]]:
    made: list[RedisLimiterBackend] = []
    namespace = f"t{uuid.uuid4().hex[:8]}"

    def make(clock: FakeClock | None = None, **options: object) -> RedisLimiterBackend:
        options.setdefault("namespace", namespace)
        backend = RedisLimiterBackend.from_url(server.url, clock=clock, **options)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture(params=["memory", "redis"])
def backend_of(
    request: pytest.FixtureRequest, make_redis: Callable[..., RedisLimiterBackend]
) -> Factory:
    if request.param == "memory":
        return lambda clock: MemoryLimiterBackend(clock=clock)
    return lambda clock: make_redis(clock)


def test_redis_backend_implements_the_protocol(
    make_redis: Callable[..., RedisLimiterBackend],
) -> None:
    assert isinstance(make_redis(), LimiterBackend)


# -- the contract, on both backends --------------------------------------------------------------


async def test_bookings_are_spaced_at_the_rate_and_fifo_for_any_weight(backend_of: Factory) -> None:
    backend = backend_of(FakeClock())
    waits = [(await backend.reserve("k", one(amount=a))).wait for a in (1, 8, 1, 1)]
    assert waits == pytest.approx([0.0, 0.1, 0.9, 1.0])


async def test_confirm_admits_when_due(backend_of: Factory) -> None:
    clock = FakeClock()
    backend = backend_of(clock)
    await backend.reserve("k", one())
    booking = await backend.reserve("k", one())
    clock.advance(0.05)
    early = await backend.confirm(booking)
    assert early.wait == pytest.approx(0.05)
    clock.advance(0.05)
    assert (await backend.confirm(early)).wait == 0.0


async def test_a_booking_beyond_max_wait_takes_nothing(backend_of: Factory) -> None:
    backend = backend_of(FakeClock())
    await backend.reserve("k", one())
    refused = await backend.reserve("k", one(), max_wait=0.05)
    assert not refused.granted and refused.wait == pytest.approx(0.1)
    await backend.cancel(refused)  # a no-op
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.1)


async def test_cancelling_the_tail_gives_its_slots_back_but_a_middle_one_stays_a_hole(
    backend_of: Factory,
) -> None:
    backend = backend_of(FakeClock())
    await backend.reserve("k", one())
    tail = [await backend.reserve("k", one()) for _ in range(5)]
    for booking in tail:
        await backend.cancel(booking)
        await backend.cancel(booking)  # idempotent
    assert (await backend.reserve("k", one())).wait == pytest.approx(0.1)

    bookings = [await backend.reserve("h", one()) for _ in range(4)]
    await backend.cancel(bookings[1])
    assert (await backend.reserve("h", one())).wait == pytest.approx(0.4)


async def test_demands_are_booked_together(backend_of: Factory) -> None:
    backend = backend_of(FakeClock())
    images = Limit("images", 2.0)
    both = [Demand(REQ, 1), Demand(images, 2)]
    assert (await backend.reserve("k", both)).wait == 0.0
    assert (await backend.reserve("k", both)).wait == pytest.approx(1.0)
    assert (await backend.reserve("k", [Demand(REQ, 1)])).wait == pytest.approx(1.1)
    assert (await backend.reserve("k", [Demand(images, 0)])).wait == 0.0


async def test_pause_holds_everyone_and_keeps_the_queue_spacing(backend_of: Factory) -> None:
    clock = FakeClock()
    backend = backend_of(clock)
    await backend.reserve("k", one())
    queued = [await backend.reserve("k", one()) for _ in range(3)]
    assert await backend.pause("k", 2.0) == pytest.approx(2.0)
    assert await backend.pause("k", 1.0) == pytest.approx(2.0)  # never shortened
    assert await backend.paused_for("k") == pytest.approx(2.0)
    assert await backend.paused_for("other") == 0.0
    clock.advance(0.1)
    moved = [await backend.confirm(b) for b in queued]
    assert [m.wait for m in moved] == pytest.approx([1.9, 2.0, 2.1])
    assert {m.reason for m in moved} == {"paused"}
    assert (await backend.reserve("k", one())).wait == pytest.approx(2.2)


async def test_a_late_wake_cannot_squeeze_an_extra_admission_into_a_window(
    backend_of: Factory,
) -> None:
    clock = FakeClock()
    backend = backend_of(clock)
    limit = Limit("requests", 5.0)
    start = clock.now()
    bookings = [await backend.reserve("k", one(limit)) for _ in range(7)]
    clock.advance(0.25)
    assert (await backend.confirm(bookings[1])).wait == 0.0
    for b in bookings[2:6]:
        clock.advance(start + b.wait - clock.now())
        assert (await backend.confirm(b)).wait == 0.0
    clock.advance(start + 1.2 - clock.now())
    held = await backend.confirm(bookings[6])
    assert held.wait == pytest.approx(0.05 + MARGIN)  # the late admission is held longer
    clock.advance(held.wait)
    assert (await backend.confirm(held)).wait == 0.0


# -- differential: Redis answers exactly as memory does, whatever the sequence -------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(1, 4), st.sampled_from([None, 0.333, 2.0507])),
        st.tuples(st.just("confirm"), st.integers(0, 40), st.none()),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.none()),
        st.tuples(st.just("pause"), st.integers(1, 30), st.none()),
        st.tuples(st.just("advance"), st.integers(1, 40), st.none()),
    ),
    max_size=50,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sequence=ops,
    rate=st.sampled_from([2.0, 5.0, 10.0]),
    capacity=st.sampled_from([1.0, 3.0]),
)
def test_redis_and_memory_agree_on_any_sequence(
    server: RedisServer,
    sequence: list[tuple[str, int, float | None]],
    rate: float,
    capacity: float,
) -> None:
    asyncio.run(_agree(server.url, sequence, rate, capacity))


async def _agree(
    url: str, sequence: list[tuple[str, int, float | None]], rate: float, capacity: float
) -> None:
    clock = FakeClock()
    memory = MemoryLimiterBackend(clock=clock)
    redis = RedisLimiterBackend.from_url(url, clock=clock, namespace=f"d{uuid.uuid4().hex[:8]}")
    limit = Limit("units", rate, capacity)
    images = Limit("images", rate / 2)
    held: list[tuple[object, object]] = []
    try:
        for op, arg, extra in sequence:
            if op == "reserve":
                demands = [Demand(limit, float(arg))] + ([Demand(images, 1.0)] if arg > 2 else [])
                a = await memory.reserve("k", demands, max_wait=extra)
                b = await redis.reserve("k", demands, max_wait=extra)
                assert (b.granted, b.reason) == (a.granted, a.reason), op
                assert b.wait == pytest.approx(a.wait, abs=1e-6)
                if a.granted and a.wait > 0:
                    held.append((a, b))
            elif op in ("confirm", "cancel") and held:
                a, b = held[arg % len(held)]
                if op == "confirm":
                    ca = await memory.confirm(a)  # type: ignore[arg-type]
                    cb = await redis.confirm(b)  # type: ignore[arg-type]
                    assert cb.wait == pytest.approx(ca.wait, abs=1e-6)
                    assert cb.reason == ca.reason
                    held[arg % len(held)] = (ca, cb)
                else:
                    await memory.cancel(a)  # type: ignore[arg-type]
                    await redis.cancel(b)  # type: ignore[arg-type]
            elif op == "pause":
                pa = await memory.pause("k", arg / 10)
                pb = await redis.pause("k", arg / 10)
                assert pb == pytest.approx(pa, abs=1e-6)
            elif op == "advance":
                clock.advance(arg / 100)
                assert await redis.paused_for("k") == pytest.approx(
                    await memory.paused_for("k"), abs=1e-6
                )
    finally:
        await redis.aclose()


# -- what Redis adds ------------------------------------------------------------------------------


async def test_two_replicas_share_one_schedule_on_server_time(
    make_redis: Callable[..., RedisLimiterBackend],
) -> None:
    """Server time is real time; a slot a minute apart and a 10-minute pause leave any
    machine's delay between two round trips far inside the bounds."""
    slow = Limit("requests", 1 / 60)
    first, second = make_redis(), make_redis()  # two connections, Redis TIME
    assert first.connection is not second.connection
    admitted = await first.reserve("k", one(slow))
    booked = await second.reserve("k", one(slow))
    assert admitted.wait == 0.0
    assert 50 < booked.wait <= 60  # behind the other replica's slot, less the time elapsed
    await first.pause("k", 600.0)
    assert 590 < await second.paused_for("k") <= 600  # one replica's 429 pauses all
    again = await second.confirm(booked)
    assert again.reason == "paused" and 590 < again.wait <= 600 + 60


async def test_a_reservation_is_one_round_trip_and_scripts_reload_after_a_flush(
    make_redis: Callable[..., RedisLimiterBackend], server: RedisServer
) -> None:
    backend = make_redis()
    await backend.reserve("k", one())  # loads the script (NOSCRIPT, SCRIPT LOAD, EVALSHA)
    before = backend.connection.round_trips
    for _ in range(10):
        await backend.reserve("k", one())
    assert backend.connection.round_trips - before == 10
    async with Redis.from_url(server.url) as admin:
        await admin.script_flush()
    assert (await backend.reserve("k", one())).granted  # EVALSHA fails, the script is reloaded
    assert not backend.degraded


async def test_keys_are_namespaced_and_expire(
    make_redis: Callable[..., RedisLimiterBackend], server: RedisServer
) -> None:
    backend = make_redis(namespace="ns-a", ttl=30.0)
    other = make_redis(namespace="ns-b", ttl=30.0)
    await backend.reserve("gemini/m", one())
    await backend.reserve("gemini/m", one())
    assert (await other.reserve("gemini/m", one())).wait == 0.0  # another deployment
    async with Redis.from_url(server.url, decode_responses=True) as admin:
        names = sorted(await admin.keys("ns-a:*"))
        base = "ns-a:rl:{gemini/m}"
        assert names == sorted([base, f"{base}:b", f"{base}:q", f"{base}:log:requests"])
        for name in names:
            ttl = await admin.pttl(name)
            assert 0 < ttl <= 31_000, name


def test_bad_options_are_config_errors(server: RedisServer) -> None:
    from genguard.errors import ConfigError

    for options in ({"namespace": ""}, {"on_backend_error": "ignore"}, {"ttl": 0}):
        with pytest.raises(ConfigError):
            RedisLimiterBackend.from_url(server.url, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        RedisLimiterBackend.from_url(server.url, command_timeout=-1)
    with pytest.raises(ConfigError):
        RedisLimiterBackend.from_url("", namespace="x")


async def test_a_spent_quota_makes_every_replica_refuse_at_once(
    make_redis: Callable[..., RedisLimiterBackend],
) -> None:
    """One replica meets a spent per-day quota; another, sharing the Redis backend, refuses
    locally with QuotaExhausted without sending and without waiting."""
    from genguard.errors import QuotaExhausted
    from genguard.layers.rate_limit import RateLimitLayer
    from genguard.model import GenerationResult
    from support import make_call

    clock = FakeClock()
    one_layer = RateLimitLayer(requests="10/s", backend=make_redis(clock), clock=clock)
    two_layer = RateLimitLayer(requests="10/s", backend=make_redis(clock), clock=clock)
    sent: list[str] = []

    async def spent(call: object) -> GenerationResult:
        sent.append("one")
        raise QuotaExhausted("insufficient_quota", code="insufficient_quota")

    async def fine(call: object) -> GenerationResult:
        sent.append("two")
        raise AssertionError("a spent key must not send")

    with pytest.raises(QuotaExhausted):
        await one_layer(make_call(clock, deadline=30.0), spent)
    start = clock.now()
    with pytest.raises(QuotaExhausted) as refused:
        await two_layer(make_call(clock, deadline=30.0), fine)
    assert refused.value.local and sent == ["one"]
    assert clock.now() == start
