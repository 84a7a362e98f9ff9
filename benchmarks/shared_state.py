"""Section 6: what shared state costs (``benchmarks/redis_backend.py``, the Redis engineer's).

Needs a ``redis-server`` binary; without one the section says so instead of failing the run.
"""

from __future__ import annotations

from .common import Budget, Section


def run(budget: Budget) -> Section:
    section = Section(
        key="redis",
        title="6. Shared state: Redis backends versus memory",
        method=(
            "A `Client` around `StaticProvider` with a circuit breaker and a rate limit "
            "(never waiting), their state in memory or on a local redis-server started for "
            "the run. Sequential calls for added latency; 200 concurrent callers for "
            "throughput and event-loop lag."
        ),
    )
    try:
        from . import redis_backend

        result = redis_backend.run(budget.name != "full")
    except Exception as error:  # no redis-server, or redis not installed
        section.notes.append(f"Not measured on this run: {type(error).__name__}: {error}")
        return section
    section.tables.append(redis_backend.table(result))
    section.data = result
    return section
