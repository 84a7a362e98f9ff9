"""What aiolimiter and pybreaker do through their public APIs, next to genguard's own state.

genguard's rate limiter and circuit breaker keep their state themselves rather than in
aiolimiter and pybreaker. This measures why, on the real clock, through each library's
public API only, beside genguard's memory stores doing the same job:

1. First second: 500 callers loop on ``AsyncLimiter(50, 1).acquire()`` for 2 s; the
   admissions in the first second and in the busiest sliding 1-s window. genguard: the
   same callers on ``MemoryLimiterBackend`` at ``50/s`` (reserve, sleep once, confirm).
2. Weighted waiters: one caller asks for 8 units of a ``10/s`` limit (capacity 10) while
   20 callers keep asking for 1 unit, for 3 s; when the 8-unit caller got in, and how many
   1-unit admissions went ahead of it while it waited.
3. Half-open: a breaker tripped by one failure (``fail_max=1``, ``reset_timeout`` 0.2 s),
   then, once the timeout passed, 100 concurrent calls of 50 ms each arrive together; how
   many were let through while the breaker was half-open. pybreaker: each call wrapped in
   ``with breaker.calling()``. genguard: ``MemoryBreakerStore.acquire`` with one probe slot.
4. Cancellation: a breaker with ``fail_max=1`` and one call that is cancelled; whether
   the cancellation tripped it.

    python -m benchmarks.dependencies [--out docs/dependencies-benchmark.md]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import time
from pathlib import Path
from typing import Any

import pybreaker
from aiolimiter import AsyncLimiter

from genguard.clock import SystemClock
from genguard.state.breaker import BreakerPolicy, MemoryBreakerStore
from genguard.state.limiter import Demand, Limit, MemoryLimiterBackend

RATE = 50
CALLERS = 500
SECONDS = 2.0
WEIGHTED_RATE = 10
WEIGHT = 8
SMALL_CALLERS = 20
WEIGHTED_SECONDS = 3.0
PROBERS = 100
RESET = 0.2
CALL_TIME = 0.05
KEY = "bench"


def max_in_window(times: list[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _reserve_and_wait(backend: MemoryLimiterBackend, demands: list[Demand]) -> None:
    reservation = await backend.reserve(KEY, demands)
    while reservation.wait > 0:
        await asyncio.sleep(reservation.wait)
        reservation = await backend.confirm(reservation)


# -- 1. the first second -------------------------------------------------------------------


async def first_second_aiolimiter() -> dict[str, int]:
    limiter = AsyncLimiter(RATE, 1)
    admitted: list[float] = []

    async def caller() -> None:
        while True:
            await limiter.acquire()
            admitted.append(time.monotonic())

    start = time.monotonic()
    tasks = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    await asyncio.sleep(SECONDS)
    await _stop(tasks)
    return _first_second(admitted, start)


async def first_second_genguard() -> dict[str, int]:
    backend = MemoryLimiterBackend(clock=SystemClock())
    demands = [Demand(Limit("requests", RATE), 1.0)]
    admitted: list[float] = []

    async def caller() -> None:
        while True:
            await _reserve_and_wait(backend, demands)
            admitted.append(time.monotonic())

    start = time.monotonic()
    tasks = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    await asyncio.sleep(SECONDS)
    await _stop(tasks)
    return _first_second(admitted, start)


def _first_second(admitted: list[float], start: float) -> dict[str, int]:
    inside = [t for t in admitted if t < start + SECONDS]
    return {
        "first_second": sum(1 for t in inside if t < start + 1.0),
        "busiest_window": max_in_window(inside),
    }


# -- 2. weighted waiters --------------------------------------------------------------------


async def weighted_aiolimiter() -> dict[str, Any]:
    limiter = AsyncLimiter(WEIGHTED_RATE, 1)
    return await _weighted(lambda amount: limiter.acquire(amount))


async def weighted_genguard() -> dict[str, Any]:
    backend = MemoryLimiterBackend(clock=SystemClock())
    limit = Limit("units", WEIGHTED_RATE, WEIGHTED_RATE)
    return await _weighted(lambda amount: _reserve_and_wait(backend, [Demand(limit, amount)]))


async def _weighted(acquire: Any) -> dict[str, Any]:
    small: list[float] = []
    big_at: list[float] = []

    async def small_caller() -> None:
        while True:
            await acquire(1)
            small.append(time.monotonic())

    async def big_caller() -> None:
        await acquire(WEIGHT)
        big_at.append(time.monotonic())

    tasks = [asyncio.create_task(small_caller()) for _ in range(SMALL_CALLERS)]
    await asyncio.sleep(1.5)  # the small callers are queued and steady
    start = time.monotonic()
    big = asyncio.create_task(big_caller())
    await asyncio.sleep(WEIGHTED_SECONDS)
    await _stop([*tasks, big])
    end = big_at[0] if big_at else start + WEIGHTED_SECONDS
    return {
        "admitted": bool(big_at),
        "waited_s": round(end - start, 2),
        "overtaken_by": sum(1 for t in small if start < t < end),
    }


# -- 3. half-open ----------------------------------------------------------------------------


async def half_open_pybreaker() -> int:
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=RESET)
    try:
        with breaker.calling():
            raise RuntimeError("the one failure that trips it")
    except (RuntimeError, pybreaker.CircuitBreakerError):
        pass
    assert breaker.current_state == pybreaker.STATE_OPEN
    await asyncio.sleep(RESET * 1.5)
    inside = 0

    async def call() -> None:
        nonlocal inside
        try:
            with breaker.calling():
                inside += 1
                await asyncio.sleep(CALL_TIME)
        except pybreaker.CircuitBreakerError:
            pass

    await asyncio.gather(*(call() for _ in range(PROBERS)))
    return inside


async def half_open_genguard() -> int:
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=1, reset_timeout=RESET, half_open_probes=1)
    clock = SystemClock()
    admission = await store.acquire(KEY, policy, clock.now())
    assert admission.permit is not None
    await store.record(admission.permit, "failure", policy, clock.now())
    await asyncio.sleep(RESET * 1.5)
    inside = 0

    async def call() -> None:
        nonlocal inside
        admission = await store.acquire(KEY, policy, clock.now())
        if admission.permit is None:
            return
        inside += 1
        await asyncio.sleep(CALL_TIME)
        await store.record(admission.permit, "success", policy, clock.now())

    await asyncio.gather(*(call() for _ in range(PROBERS)))
    return inside


# -- 4. cancellation -------------------------------------------------------------------------


async def cancelled_pybreaker() -> str:
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60)

    async def call() -> None:
        with breaker.calling():
            await asyncio.sleep(60)

    task = asyncio.create_task(call())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return str(breaker.current_state)


async def cancelled_genguard() -> str:
    """What the breaker layer reports for a cancelled attempt: ``ignored``."""
    store = MemoryBreakerStore()
    policy = BreakerPolicy(fail_max=1, reset_timeout=60)
    admission = await store.acquire(KEY, policy, 0.0)
    assert admission.permit is not None
    await store.record(admission.permit, "ignored", policy, 0.0)
    return (await store.snapshot(KEY, policy, 0.0)).state


async def _run() -> dict[str, Any]:
    return {
        "first_second": {
            "aiolimiter": await first_second_aiolimiter(),
            "genguard": await first_second_genguard(),
        },
        "weighted": {
            "aiolimiter": await weighted_aiolimiter(),
            "genguard": await weighted_genguard(),
        },
        "half_open": {
            "pybreaker": await half_open_pybreaker(),
            "genguard": await half_open_genguard(),
        },
        "cancelled": {
            "pybreaker": await cancelled_pybreaker(),
            "genguard": await cancelled_genguard(),
        },
    }


def run() -> dict[str, Any]:
    return asyncio.run(_run())


def _versions() -> str:
    from importlib.metadata import version

    return f"aiolimiter {version('aiolimiter')}, pybreaker {version('pybreaker')}"


def report(result: dict[str, Any]) -> str:
    first, weighted = result["first_second"], result["weighted"]
    half, cancelled = result["half_open"], result["cancelled"]

    def big(row: dict[str, Any]) -> str:
        if row["admitted"]:
            return f"after {row['waited_s']:g} s"
        return f"not within {row['waited_s']:g} s"

    return "\n".join(
        [
            "# Dependencies benchmark: aiolimiter and pybreaker beside genguard's own state",
            "",
            "Generated by `python -m benchmarks.dependencies --out "
            "docs/dependencies-benchmark.md`; do not edit by hand. "
            f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"{_versions()}. Method: the module docstring of benchmarks/dependencies.py; "
            "every library is used through its public API only.",
            "",
            f"## 1. The first second of a `{RATE}/s` limit",
            "",
            f"{CALLERS} callers, each asking again as soon as it is admitted, for {SECONDS:g} s.",
            "",
            "| limiter | admitted in the first second | busiest sliding 1-s window |",
            "|---|---:|---:|",
            f"| aiolimiter `AsyncLimiter({RATE}, 1)` | {first['aiolimiter']['first_second']} | "
            f"{first['aiolimiter']['busiest_window']} |",
            f"| genguard `MemoryLimiterBackend` | {first['genguard']['first_second']} | "
            f"{first['genguard']['busiest_window']} |",
            "",
            f"## 2. A weighted waiter among small ones (`{WEIGHTED_RATE}/s`)",
            "",
            f"One caller asks for {WEIGHT} units while {SMALL_CALLERS} callers keep asking for "
            f"1 unit; watched for {WEIGHTED_SECONDS:g} s. FIFO lets the 1-unit callers "
            "already booked when it arrived go first, and no one after it.",
            "",
            f"| limiter | the {WEIGHT}-unit caller got in | 1-unit admissions ahead of it |",
            "|---|---|---:|",
            f"| aiolimiter `AsyncLimiter({WEIGHTED_RATE}, 1)` | {big(weighted['aiolimiter'])} | "
            f"{weighted['aiolimiter']['overtaken_by']} |",
            f"| genguard `MemoryLimiterBackend` (FIFO bookings) | {big(weighted['genguard'])} | "
            f"{weighted['genguard']['overtaken_by']} |",
            "",
            "## 3. Half-open: how many callers get through",
            "",
            f"{PROBERS} concurrent calls arrive once the reset timeout has passed.",
            "",
            "| breaker | calls let through while half-open |",
            "|---|---:|",
            f"| pybreaker `with breaker.calling()` | {half['pybreaker']} of {PROBERS} |",
            f"| genguard `MemoryBreakerStore`, one probe slot | {half['genguard']} of {PROBERS} |",
            "",
            "## 4. A cancelled call",
            "",
            "| breaker (`fail_max=1`) | state after one cancelled call |",
            "|---|---|",
            f"| pybreaker `with breaker.calling()` | {cancelled['pybreaker']} |",
            f"| genguard (the layer reports a cancellation as `ignored`) | "
            f"{cancelled['genguard']} |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dependencies")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default: stdout)")
    args = parser.parse_args(argv)
    text = report(run())
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
