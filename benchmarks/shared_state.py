"""Section 6: what shared state costs (``benchmarks/redis_backend.py``, the Redis engineer's).

Needs a ``redis-server`` binary and the ``redis`` package; without one of them the section
says which is missing. Any other error fails the run: a broken backend must not pass for
an unmeasured one.
"""

from __future__ import annotations

import importlib.util
import shutil

from .common import Budget, Section


def _missing() -> str | None:
    """What this machine lacks to measure the section, or None."""
    if importlib.util.find_spec("redis") is None:
        return "the redis package is not installed (pip install 'genguard[redis]')"
    if shutil.which("redis-server") is None:
        return "no redis-server binary on PATH"
    return None


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
    missing = _missing()
    if missing is not None:  # the one reason to skip: say which, in the report
        section.notes.append(f"Not measured on this run: {missing}.")
        return section
    from . import redis_backend

    result = redis_backend.run(budget.name != "full")  # any failure fails the run, loudly
    section.tables.append(redis_backend.table(result))
    section.data = result
    return section
