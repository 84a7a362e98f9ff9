"""Every store is owned the same way: ``async with`` (or an exit stack) closes it once."""

from __future__ import annotations

from contextlib import AsyncExitStack

from genguard.state.breaker import MemoryBreakerStore
from genguard.state.budget import MemoryBudgetStore
from genguard.state.limiter import Demand, Limit, MemoryLimiterBackend
from genguard.state.redis import RedisBreakerStore, RedisConnection, RedisLimiterBackend
from genguard.state.resource import AsyncResource
from support import free_port


def refused() -> str:
    """A Redis URL nobody listens on (no command is sent in these tests)."""
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_memory_stores_close_on_leaving_their_block() -> None:
    async with MemoryLimiterBackend() as limiter:
        await limiter.reserve("k", [Demand(Limit("requests", 10.0), 1.0)])
        assert len(limiter) == 1
    assert len(limiter) == 0  # aclose dropped its keys
    for store in (MemoryBreakerStore(), MemoryBudgetStore()):
        assert isinstance(store, AsyncResource)
        async with store as entered:
            assert entered is store


async def test_redis_stores_on_one_connection_close_it_with_the_last_one() -> None:
    connection = RedisConnection.from_url(refused())
    async with AsyncExitStack() as stack:
        limiter = await stack.enter_async_context(RedisLimiterBackend(connection))
        breaker = await stack.enter_async_context(RedisBreakerStore(connection))
        await limiter.aclose()
        await limiter.aclose()  # idempotent: the breaker still holds the connection
        assert not connection._closed
        assert breaker.connection is connection
    assert connection._closed
