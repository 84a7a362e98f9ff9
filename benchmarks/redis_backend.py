"""Added latency per call of the Redis state backends versus the memory ones.

A ``Client`` around ``StaticProvider`` (answers at once, no network), with a circuit
breaker and a rate limit (a rate high enough never to wait, so the cost measured is
the state round trips, not the limit), their state either in memory or on a local
``redis-server`` (started here on a free port, no persistence, stopped by pid; or
``--url`` to use one of yours). Cases:

- ``memory``: both layers on their memory stores.
- ``redis_breaker``: the breaker on Redis, the limiter in memory.
- ``redis_limiter``: the limiter on Redis, the breaker in memory.
- ``redis_both``: both on Redis (what ``state: {backend: redis}`` builds).

Sequential calls give the per-call latency (median of rounds) and the added latency
over ``memory``; 200 concurrent callers give throughput and the event-loop lag (how
late a 1 ms ticker wakes), the figure that a blocking store ruins.
``run(quick)`` returns all of it; run directly for a table:
``python benchmarks/redis_backend.py [--quick] [--url redis://...]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from genguard import Client
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.providers.static import StaticProvider
from genguard.state.redis import RedisBreakerStore, RedisConnection, RedisLimiterBackend

CASES = ("memory", "redis_breaker", "redis_limiter", "redis_both")
CONCURRENCY = 200


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1; yields its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="genguard-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _layers(case: str, connection: RedisConnection | None, namespace: str) -> list[Any]:
    store = backend = None
    if connection is not None and case in ("redis_breaker", "redis_both"):
        store = RedisBreakerStore(connection, namespace=namespace)
    if connection is not None and case in ("redis_limiter", "redis_both"):
        backend = RedisLimiterBackend(connection, namespace=namespace)
    return [
        CircuitBreakerLayer(fail_max=5, store=store),
        RateLimitLayer(requests="1000000/s", backend=backend),
    ]


async def _case(url: str, case: str, calls: int, rounds: int) -> dict[str, Any]:
    connection = None if case == "memory" else RedisConnection.from_url(url)
    layers = _layers(case, connection, f"bench-{case}-{os.getpid()}")
    per_call: list[float] = []
    async with Client(StaticProvider(), layers) as client:
        for _ in range(50):  # warm-up: connections, script loading
            await client.generate("warm-up")
        trips_before = connection.round_trips if connection is not None else 0
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                await client.generate("a paper crane on a wooden desk")
            per_call.append((time.perf_counter() - started) / calls)
        trips = (connection.round_trips - trips_before) if connection is not None else 0
        concurrent = await _concurrent(client, calls)
    for layer in layers:
        for attr in ("store", "backend"):
            state = getattr(layer, attr, None)
            if state is not None:
                await state.aclose()
    return {
        "us_per_call": statistics.median(per_call) * 1e6,
        "round_trips_per_call": trips / (calls * rounds),
        **concurrent,
    }


async def _concurrent(client: Client, calls: int) -> dict[str, float]:
    """``CONCURRENCY`` callers sharing ``calls`` calls, with a 1 ms ticker measuring loop lag."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - before - 0.001)

    remaining = [calls]

    async def caller() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await client.generate("a bowl of ramen, studio lighting")

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    lags.sort()
    return {
        "calls_per_s_at_200": calls / elapsed,
        "loop_lag_ms_p50": statistics.median(lags) * 1e3 if lags else 0.0,
        "loop_lag_ms_p99": lags[int(0.99 * (len(lags) - 1))] * 1e3 if lags else 0.0,
    }


async def _run(url: str, quick: bool) -> dict[str, Any]:
    calls, rounds = (500, 3) if quick else (3000, 5)
    cases = {case: await _case(url, case, calls, rounds) for case in CASES}
    base = cases["memory"]["us_per_call"]
    for result in cases.values():
        result["added_us_per_call"] = result["us_per_call"] - base
    return {"calls": calls, "rounds": rounds, "concurrency": CONCURRENCY, "cases": cases}


def run(quick: bool, url: str | None = None) -> dict[str, Any]:
    """Measure every case (against ``url``, or a redis-server started for the run)."""
    if url is not None:
        return asyncio.run(_run(url, quick))
    with redis_server() as started:
        return asyncio.run(_run(started, quick))


def table(result: dict[str, Any]) -> str:
    rows = [
        "| case | µs/call | added µs/call | Redis round trips/call "
        "| calls/s at 200 | loop lag p50 / p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, r in result["cases"].items():
        rows.append(
            f"| {case} | {r['us_per_call']:.0f} | {r['added_us_per_call']:+.0f} "
            f"| {r['round_trips_per_call']:.2f} | {r['calls_per_s_at_200']:.0f} "
            f"| {r['loop_lag_ms_p50']:.2f} / {r['loop_lag_ms_p99']:.2f} |"
        )
    return "\n".join(rows)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    url = argv[argv.index("--url") + 1] if "--url" in argv else None
    print(table(run(quick, url)))


if __name__ == "__main__":
    main(sys.argv[1:])


__all__: list[str] = ["CASES", "run", "table"]
