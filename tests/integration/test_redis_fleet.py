"""Many processes, one quota and one breaker: worker processes share Redis state while
calling one simulator, and everything is asserted from counts: the simulator's own
request log and what each worker's callers got back.

Run as a script, this module is the worker: ``python test_redis_fleet.py '<json spec>'``.
The test drives each worker by commands on its stdin (one JSON line each, answered by
one JSON line), so phases follow each other by handshake, not by a common start time:
however long a process takes to start, nothing below depends on it. Throughput and
per-window figures of a fleet are measured in benchmarks/, not here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from genguard import Client
from genguard.clock import FakeClock
from genguard.errors import CircuitOpen, ProviderUnavailable, RateLimited
from genguard.layers.circuit_breaker import CircuitBreakerLayer
from genguard.layers.rate_limit import RateLimitLayer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.state.redis import RedisBreakerStore, RedisLimiterBackend
from redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
CALLERS = 8
#: The fleet's quota: a burst of BURST, then one request an hour (never within a test).
BURST = 12
FAIL_MAX = 3
RESET_TIMEOUT = 2.0


# -- the worker ----------------------------------------------------------------------------------


async def _serve(spec: dict[str, Any]) -> None:
    """Answer commands from stdin until "quit"; one JSON line out per command."""
    loop = asyncio.get_running_loop()
    clock = FakeClock(start=spec.get("start", 1000.0), auto=False)
    if spec["mode"] == "rate":
        limiter = RedisLimiterBackend.from_url(spec["redis"], namespace=spec["namespace"])
        store: RedisLimiterBackend | RedisBreakerStore = limiter
        layer: Layer = RateLimitLayer(requests="1/h", burst=BURST, backend=limiter)
        client = Client(GeminiProvider("sim-key", base_url=spec["base_url"]), [layer], deadline=30)
    else:
        breaker = RedisBreakerStore.from_url(
            spec["redis"], namespace=spec["namespace"], server_time=False
        )
        store = breaker
        layer = CircuitBreakerLayer(fail_max=FAIL_MAX, reset_timeout=RESET_TIMEOUT, store=breaker)
        provider = GeminiProvider("sim-key", base_url=spec["base_url"])
        client = Client(provider, [layer], deadline=30, clock=clock)
    taken = 0

    async def one() -> str:
        nonlocal taken
        taken += 1
        try:
            await client.generate(f"w{spec['index']} n{taken}")
        except CircuitOpen:
            return "refused"
        except RateLimited as error:
            return f"limited-{error.scope}"
        except ProviderUnavailable:
            return "failed"
        return "ok"

    async with client:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            command = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
            if command["op"] == "quit":
                break
            if command["op"] == "advance":
                clock.advance(command["seconds"])
                tally: Counter[str] = Counter()
            elif command.get("sequential"):
                tally = Counter([await one() for _ in range(command["n"])])
            else:
                tally = Counter(await asyncio.gather(*(one() for _ in range(command["n"]))))
            print(json.dumps(dict(tally)), flush=True)
    await store.aclose()
    print(json.dumps({"round_trips": store.connection.round_trips}), flush=True)


class Worker:
    """One worker process, driven by commands."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, **command: Any) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        assert line, "the worker exited"
        answer: dict[str, int] = json.loads(line)
        return answer


async def start_workers(specs: list[dict[str, Any]]) -> list[Worker]:
    """One process per spec, each answering once it is ready (however long that takes)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    workers = []
    for spec in specs:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        workers.append(Worker(process))
    for worker in workers:
        assert worker.process.stdout is not None
        assert json.loads(await worker.process.stdout.readline()) == {"ready": True}
    return workers


async def stop_workers(workers: list[Worker]) -> list[dict[str, int]]:
    finals = [await w.ask(op="quit") for w in workers]
    for w in workers:
        assert await w.process.wait() == 0
    return finals


def specs(mode: str, redis: RedisServer, sim: Simulator) -> list[dict[str, Any]]:
    common = {"mode": mode, "redis": redis.url, "namespace": f"fleet-{mode}"}
    return [{**common, "index": i, "base_url": sim.base_url} for i in range(WORKERS)]


# -- the tests -----------------------------------------------------------------------------------


async def test_four_processes_share_one_rate_limit(redis_server: RedisServer) -> None:
    async with Simulator("clean") as sim:
        workers = await start_workers(specs("rate", redis_server, sim))
        try:
            # All four at once, CALLERS concurrent callers each: the fleet gets BURST, not 4x.
            tallies = await asyncio.gather(*(w.ask(op="call", n=CALLERS) for w in workers))
            granted = sum(t.get("ok", 0) for t in tallies)
            assert granted == BURST
            assert all(set(t) <= {"ok", "limited-client"} for t in tallies), tallies
            # Afterwards every process, one after another, finds the quota spent.
            for w in workers:
                assert await w.ask(op="call", n=2) == {"limited-client": 2}
        finally:
            finals = await stop_workers(workers)
    assert sim.requests == BURST and set(sim.status_counts) == {200}
    # At most two round trips a call: one books a slot, one confirms it or gives back a slot
    # past the deadline; script loading adds two per process. Nothing polls.
    calls = WORKERS * (CALLERS + 2)
    assert sum(f["round_trips"] for f in finals) <= 2 * calls + 2 * WORKERS


async def test_a_trip_in_one_process_stops_all_until_the_reset_timeout(
    redis_server: RedisServer,
) -> None:
    """The breaker's time is each worker's fake clock (``server_time=False``), advanced
    together by the test, so 'until the reset timeout' is exact."""
    async with Simulator("outage", duration=3600.0) as sim:
        workers = await start_workers(specs("breaker", redis_server, sim))
        first, others = workers[0], workers[1:]
        try:
            # Process 0 alone meets the outage and trips the shared breaker.
            assert await first.ask(op="call", n=FAIL_MAX, sequential=True) == {"failed": FAIL_MAX}
            assert await first.ask(op="call", n=1) == {"refused": 1}
            # Every other process is refused without sending anything.
            for tally in await asyncio.gather(*(w.ask(op="call", n=2) for w in others)):
                assert tally == {"refused": 2}
            assert sim.requests == FAIL_MAX
            # Just before the reset timeout: still refused everywhere.
            for w in workers:
                await w.ask(op="advance", seconds=RESET_TIMEOUT - 0.01)
            for tally in await asyncio.gather(*(w.ask(op="call", n=2) for w in others)):
                assert tally == {"refused": 2}
            assert sim.requests == FAIL_MAX
            # At the reset timeout six callers in three processes try at once: one probe
            # goes through fleet-wide, fails (the outage goes on), and the breaker reopens.
            for w in workers:
                await w.ask(op="advance", seconds=0.01)
            tallies = await asyncio.gather(*(w.ask(op="call", n=2) for w in others))
            total = sum((Counter(t) for t in tallies), Counter())
            assert total == {"failed": 1, "refused": 5}
            assert sim.requests == FAIL_MAX + 1
            # The failed probe doubled the break, fleet-wide: still refused after one period...
            for w in workers:
                await w.ask(op="advance", seconds=RESET_TIMEOUT)
            for tally in await asyncio.gather(*(w.ask(op="call", n=1) for w in workers)):
                assert tally == {"refused": 1}
            assert sim.requests == FAIL_MAX + 1
            # ...and after two, half-open probes are limited fleet-wide: one, whoever sends it.
            for w in workers:
                await w.ask(op="advance", seconds=RESET_TIMEOUT)
            tallies = await asyncio.gather(*(w.ask(op="call", n=2) for w in workers))
            total = sum((Counter(t) for t in tallies), Counter())
            assert total == {"failed": 1, "refused": 7}
            assert sim.requests == FAIL_MAX + 2
        finally:
            await stop_workers(workers)
    assert set(sim.status_counts) == {503}


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
