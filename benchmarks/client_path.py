"""The client and provider path alone, over loopback: where an empty pipeline's CPU goes.

``python -m benchmarks.client_path`` runs raw aiohttp and genguard with an empty
pipeline against the simulator (its own process, clean profile) at one
concurrency, interleaved round by round, and prints each one's client CPU per
call, calls/s and ratio to raw aiohttp (medians and spread over rounds).
``--profile`` instead runs the genguard contender under cProfile and prints the
functions that cost the most, so a change to the path can be aimed before it is made.
``--scale N`` holds N Gemini calls in flight (section 4's method) for raw aiohttp,
the empty pipeline and the full stack, and prints the memory each call holds.

Not a report section: a tool for working on the provider, transport and client code.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from dataclasses import replace

from . import contenders as C
from .common import median
from .simproc import SimProcess
from .throughput import EMPTY, RAW, _drive


async def _cell(contender: C.Contender, concurrency: int, seconds: float) -> tuple[float, float]:
    """(calls/s, client CPU us per call) over ``seconds`` after a short warm-up."""
    await _drive(contender, concurrency, calls=max(2 * concurrency, 50))
    loop = asyncio.get_running_loop()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    ok, errors = await _drive(contender, concurrency, until=loop.time() + seconds, offset=10**6)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if errors:
        raise RuntimeError(f"{contender.name}: {errors} calls failed")
    return ok / wall, cpu / max(1, ok) * 1e6


async def _ab(api: str, concurrency: int, seconds: float, rounds: int) -> None:
    async with SimProcess() as sim:
        [(_, url)] = await sim.start("clean", record=False)
        contenders: list[C.Contender] = [
            C.RawAiohttp(api, url),
            C.Genguard(api, url, list, name=EMPTY),
        ]
        for c in contenders:
            await c.open()
        runs: dict[str, list[tuple[float, float]]] = {c.name: [] for c in contenders}
        try:
            for r in range(rounds):
                for c in contenders[r % 2 :] + contenders[: r % 2]:
                    runs[c.name].append(await _cell(c, concurrency, seconds))
        finally:
            for c in contenders:
                await c.close()
    raw = runs[RAW]
    for name, cells in runs.items():
        ratios = [g[0] / r[0] for g, r in zip(cells, raw, strict=True)]
        cpus = [g[1] for g in cells]
        print(
            f"{api} c={concurrency} {name:26s} cpu {median(cpus):6.1f} us/call "
            f"[{min(cpus):.1f}-{max(cpus):.1f}]  {median([g[0] for g in cells]):7.0f} calls/s  "
            f"x raw {median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
        )


async def _profile(api: str, concurrency: int, seconds: float, top: int, which: str) -> None:
    async with SimProcess() as sim:
        [(_, url)] = await sim.start("clean", record=False)
        contender: C.Contender = (
            C.RawAiohttp(api, url) if which == "raw" else C.Genguard(api, url, list, name=EMPTY)
        )
        await contender.open()
        await _drive(contender, concurrency, calls=500)
        loop = asyncio.get_running_loop()
        profiler = cProfile.Profile()
        profiler.enable()
        ok, _ = await _drive(contender, concurrency, until=loop.time() + seconds)
        profiler.disable()
        await contender.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print(f"{ok} calls profiled")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def _scale(n: int, rounds: int) -> None:
    from . import scale
    from .common import QUICK

    budget = replace(QUICK, scale_calls=n)
    names = (RAW, scale.EMPTY, "genguard")
    kb: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, result in asyncio.run(scale._all(budget, names)).items():
            kb[name].append(result["per_call_kb"])
    raw = median(kb[RAW])
    for name, values in kb.items():
        print(
            f"{n} in flight {name:26s} {median(values):5.2f} KB/call "
            f"[{min(values):.2f}-{max(values):.2f}]  over raw {median(values) - raw:+.2f} KB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=C.APIS, action="append")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=("genguard", "raw"))
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--scale", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.scale:
        _scale(args.scale, args.rounds)
        return
    for api in args.api or C.APIS:
        if args.profile:
            asyncio.run(_profile(api, args.concurrency, args.seconds, args.top, args.profile))
        else:
            asyncio.run(_ab(api, args.concurrency, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
