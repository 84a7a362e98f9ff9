"""Four processes, one Redis budget: however they race, the fleet never spends more than it.

Run as a script, this module is the worker: ``python test_budget_fleet.py '<json spec>'``.
Each worker reads commands from stdin (one JSON line each, answered by one JSON
line), so phases follow each other by handshake. Every worker's clock is a fake
one on the same wall time, so all of them share one budget window whatever the
real time. The simulator's bill is the judge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from genguard import Client, GenerationRequest
from genguard.catalogue.prices import Shape, default_prices
from genguard.clock import FakeClock
from genguard.errors import BudgetExceeded, GenGuardError
from genguard.layers.budget import BudgetLayer
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator
from genguard.state.budget import MemoryBudgetStore
from genguard.state.redis_budget import RedisBudgetStore
from redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
CALLERS = 16
LIMIT = Decimal("2.00")
PROMPT = "a paper boat on a pond, number {}"
WALL = 1_767_225_610.0  # ten seconds into a minute: every worker is in the same window


async def _serve(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    clock = FakeClock(start=1000.0, wall_start=WALL - 1000.0, auto=False)
    store = RedisBudgetStore.from_url(spec["redis"], namespace=spec["namespace"])
    budget = BudgetLayer({"minute": str(LIMIT)}, store=store, clock=clock)
    retry = RetryLayer(attempts=3, initial=0.001, max_delay=0.001)
    provider = GeminiProvider("sim-key", base_url=spec["base_url"])
    client = Client(provider, [retry, budget])
    taken = 0

    async def one() -> str:
        nonlocal taken
        taken += 1
        request = GenerationRequest(
            prompt=PROMPT.format(f"{spec['index']}-{taken}"), metadata={"tenant": "fleet"}
        )
        try:
            await client.generate(request)
        except BudgetExceeded:
            return "refused"
        except GenGuardError:
            return "failed"
        return "ok"

    async with client:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            command = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
            if command["op"] == "quit":
                break
            tally = Counter(await asyncio.gather(*(one() for _ in range(command["n"]))))
            print(json.dumps(dict(tally)), flush=True)
    print(json.dumps({"degraded": store.degraded}), flush=True)


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        assert line, "the worker exited"
        answer: dict[str, Any] = json.loads(line)
        return answer


async def start_workers(specs: list[dict[str, Any]]) -> list[Worker]:
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


def reservation() -> Decimal:
    """The largest reservation one of the workers' calls makes."""
    prompt = PROMPT.format(f"{WORKERS}-{10 * CALLERS}")
    shape = Shape(prompt_chars=len(prompt), prompt_bytes=len(prompt))
    return default_prices().require("gemini-2.5-flash-image").estimate(shape, maximum=True)


@pytest.mark.parametrize(("profile", "options"), [("clean", {}), ("flaky", {"resets": 0.5})])
async def test_four_processes_never_overspend_one_redis_budget(
    redis_server: RedisServer, profile: str, options: dict[str, Any]
) -> None:
    async with Simulator(profile, seed=5, **options) as sim:
        common = {"redis": redis_server.url, "namespace": f"budget-{profile}"}
        workers = await start_workers(
            [{**common, "index": i, "base_url": sim.base_url} for i in range(WORKERS)]
        )
        try:
            # two rounds of CALLERS concurrent calls in each of the four processes at once
            totals: Counter[str] = Counter()
            for _ in range(2):
                for tally in await asyncio.gather(*(w.ask(op="call", n=CALLERS) for w in workers)):
                    totals.update(tally)
        finally:
            finals = [await w.ask(op="quit") for w in workers]
            for w in workers:
                assert await w.process.wait() == 0
    assert not any(f["degraded"] for f in finals)
    assert totals["refused"] > 0 and totals["ok"] > 0  # the budget bound, and it served
    bill = sim.ledger.total
    # reserve and settle are atomic: the fleet's bill never passes the limit ...
    assert bill <= LIMIT
    # ... and the budget was used, not wasted: less than one reservation is left over
    # (or, with lost answers kept at their upper bound, one per uncertain attempt)
    slack = LIMIT - bill
    if profile == "clean":
        assert slack < reservation()


async def test_one_process_without_redis_never_overspends() -> None:
    async with Simulator("flaky", seed=9, resets=0.5) as sim:
        clock = FakeClock(start=1000.0, wall_start=WALL - 1000.0, auto=False)
        budget = BudgetLayer({"minute": str(LIMIT)}, store=MemoryBudgetStore(), clock=clock)
        retry = RetryLayer(attempts=3, initial=0.001, max_delay=0.001)
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, [retry, budget]) as client:

            async def one(i: int) -> None:
                with contextlib.suppress(GenGuardError):
                    await client.generate(PROMPT.format(i), metadata={"tenant": "solo"})

            await asyncio.gather(*(one(i) for i in range(4 * CALLERS)))
    assert Decimal(0) < sim.ledger.total <= LIMIT


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
