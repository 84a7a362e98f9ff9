"""How exactly the rate limiter holds its rate, on the real clock.

2,000 concurrent callers hammer a ``RateLimitLayer(requests="50/s")`` for 5 s
(each admitted caller immediately asks again). Reported: the most admissions
seen in any sliding 1-s window (the bound is the configured rate, no burst
configured), utilisation (admissions / rate x duration), the same figures for
aiolimiter's ``AsyncLimiter(50, 1)`` for contrast, how fast the limiter
admits again after 1,000 waiting callers are cancelled, and what waiting costs:
CPU per admission with the callers queued (once the queue is booked) against the
same layer sent the same rate open loop, where nobody waits.

    python -m benchmarks.limiter_accuracy [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import statistics
import time
from typing import Any

from aiolimiter import AsyncLimiter

from genguard.clock import SystemClock
from genguard.layers.rate_limit import RateLimitLayer
from genguard.model import Call, GenerationRequest, GenerationResult, Image
from genguard.observe import NOOP_OBSERVER

RATE = 50
CALLERS = 2000
SECONDS = 5.0
CANCELLED = 1000
#: Interleaved rounds of the waiting-cost comparison.
WAITING_ROUNDS = 3

_RESULT = GenerationResult(images=(Image(b""),), generation_id="b", provider="bench", model="m")
_REQUEST = GenerationRequest(prompt="benchmark")


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most events in any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window) - i)
    return best


def _call(clock: SystemClock) -> Call:
    return Call(
        request=_REQUEST,
        generation_id="b",
        provider="bench",
        model="m",
        key="bench/m",
        observer=NOOP_OBSERVER,
        clock=clock,
        started_at=clock.now(),
    )


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def genguard_run(callers: int, seconds: float) -> dict[str, Any]:
    clock = SystemClock()
    layer = RateLimitLayer(requests=f"{RATE}/s", clock=clock)
    admitted: list[float] = []

    async def downstream(call: Call) -> GenerationResult:
        admitted.append(time.monotonic())
        return _RESULT

    async def caller() -> None:
        while True:
            await layer(_call(clock), downstream)

    start = time.monotonic()
    cpu = time.process_time()
    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    await _stop(tasks)
    inside = [t for t in admitted if t < start + seconds]
    return {
        "admitted": len(inside),
        "max_in_any_1s_window": max_in_window(inside),
        "utilisation": round(len(inside) / (RATE * seconds), 4),
        # Everything the process spent while the callers queued, per admitted call.
        "cpu_us_per_admission": round(cpu / max(1, len(inside)) * 1e6, 1),
    }


async def unqueued_run(calls: int) -> dict[str, Any]:
    """The same layer with its rate out of reach: CPU per call when nobody waits."""
    clock = SystemClock()
    layer = RateLimitLayer(requests="1000000/s", clock=clock)

    async def downstream(call: Call) -> GenerationResult:
        return _RESULT

    for _ in range(100):
        await layer(_call(clock), downstream)
    cpu = time.process_time()
    for _ in range(calls):
        await layer(_call(clock), downstream)
    cpu = time.process_time() - cpu
    return {"calls": calls, "cpu_us_per_call": round(cpu / calls * 1e6, 1)}


async def queued_steady(callers: int, seconds: float, settle: float) -> float:
    """CPU per admission once ``callers`` are queued at ``RATE``/s (each admitted caller
    asks again at once): measured over ``seconds`` after ``settle`` seconds, so the
    one-off booking of the whole queue at the start is not charged to the admissions."""
    clock = SystemClock()
    layer = RateLimitLayer(requests=f"{RATE}/s", clock=clock)
    admitted = 0

    async def downstream(call: Call) -> GenerationResult:
        nonlocal admitted
        admitted += 1
        return _RESULT

    async def caller() -> None:
        while True:
            await layer(_call(clock), downstream)

    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    await asyncio.sleep(settle)
    first, cpu = admitted, time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu
    calls = admitted - first
    await _stop(tasks)
    return cpu / max(1, calls) * 1e6


async def open_loop_run(seconds: float) -> float:
    """CPU per call of the same layer with its rate out of reach, sent ``RATE`` calls/s
    open loop: nobody waits, and the process idles between calls as the queued one does."""
    clock = SystemClock()
    layer = RateLimitLayer(requests="1000000/s", clock=clock)

    async def downstream(call: Call) -> GenerationResult:
        return _RESULT

    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[GenerationResult]] = []
    cpu = time.process_time()
    start = loop.time()
    while loop.time() < start + seconds:
        tasks.append(loop.create_task(layer(_call(clock), downstream)))
        await asyncio.sleep(max(0.0, start + len(tasks) / RATE - loop.time()))
    await asyncio.gather(*tasks)
    return (time.process_time() - cpu) / len(tasks) * 1e6


async def waiting_run(callers: int, seconds: float, rounds: int) -> dict[str, Any]:
    """What waiting costs: ``queued_steady`` against ``open_loop_run`` at the same rate,
    ``rounds`` times interleaved (the process idles between admissions in both, and an
    idle process pays for every wake-up, so a tight loop is no baseline)."""
    queued: list[float] = []
    free: list[float] = []
    for _ in range(rounds):
        queued.append(round(await queued_steady(callers, seconds, settle=seconds / 3), 1))
        free.append(round(await open_loop_run(seconds), 1))
    return {
        "callers": callers,
        "seconds": seconds,
        "queued_cpu_us_runs": queued,
        "open_loop_cpu_us_runs": free,
        "queued_cpu_us_per_call": statistics.median(queued),
        "open_loop_cpu_us_per_call": statistics.median(free),
    }


async def aiolimiter_run(callers: int, seconds: float) -> dict[str, Any]:
    limiter = AsyncLimiter(RATE, 1)
    admitted: list[float] = []

    async def caller() -> None:
        while True:
            await limiter.acquire()
            admitted.append(time.monotonic())

    start = time.monotonic()
    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    await asyncio.sleep(seconds)
    await _stop(tasks)
    inside = [t for t in admitted if t < start + seconds]
    return {
        "admitted": len(inside),
        "max_in_any_1s_window": max_in_window(inside),
        "admitted_in_first_second": len([t for t in inside if t < start + 1.0]),
    }


async def cancellation_run(waiters: int) -> dict[str, Any]:
    """Queue ``waiters`` callers (20 s of backlog at 50/s), cancel them all, then
    measure how soon the next RATE callers are admitted."""
    clock = SystemClock()
    layer = RateLimitLayer(requests=f"{RATE}/s", clock=clock)
    admitted: list[float] = []

    async def downstream(call: Call) -> GenerationResult:
        admitted.append(time.monotonic())
        return _RESULT

    await layer(_call(clock), downstream)
    queued = [asyncio.create_task(layer(_call(clock), downstream)) for _ in range(waiters)]
    await asyncio.sleep(0.001)
    await _stop(queued)  # type: ignore[arg-type]
    admitted.clear()
    start = time.monotonic()
    await asyncio.gather(*(layer(_call(clock), downstream) for _ in range(RATE)))
    return {
        "cancelled": waiters,
        "first_admission_after_s": round(admitted[0] - start, 4),
        f"seconds_for_next_{RATE}": round(admitted[-1] - start, 4),
    }


async def _run(quick: bool) -> dict[str, Any]:
    callers = 500 if quick else CALLERS
    seconds = 2.0 if quick else SECONDS
    return {
        "configured_rate_per_s": RATE,
        "burst": None,
        "callers": callers,
        "seconds": seconds,
        "genguard": await genguard_run(callers, seconds),
        "unqueued": await unqueued_run(int(RATE * seconds)),
        "aiolimiter": await aiolimiter_run(callers, seconds),
        "after_cancel": await cancellation_run(200 if quick else CANCELLED),
        "waiting": await waiting_run(callers, 1.5 if quick else 3.0, WAITING_ROUNDS),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark in a fresh event loop and return its figures."""
    return asyncio.run(_run(quick))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 callers for 2 s")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
