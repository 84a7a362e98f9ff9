"""Section 4: memory and event-loop lag with many calls in flight against a slow simulator.

Each contender runs in a fresh child process (``python -m benchmarks.scale``) so
its resident memory starts from the same baseline and nothing else shares its
event loop. The simulator (its own process) holds every response: it sends the
headers and one body byte, then stalls. The parent watches the simulator's
request counter and tells the child when every call has reached the server
("steady"); from then until the first call completes, all N calls are in flight.

- memory per in-flight call: (median RSS while steady - RSS before the calls) / N,
  after a warm-up on a clean simulator so imports and caches are already paid;
- event-loop lag: how late a 10 ms ticker wakes, over the whole run (launch
  included) and while steady.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time
from typing import Any

from . import contenders as C
from .common import Budget, Section, Target, median, percentile, rss_bytes, table
from .simproc import ROOT, SimProcess, child_env

CONTENDERS = ("raw aiohttp", "genguard")
#: Not in the report: the client and provider path alone (``benchmarks.client_path --scale``).
EMPTY = "genguard, empty pipeline"
TICK = 0.010


def _make(name: str, url: str) -> C.Contender:
    if name == "raw aiohttp":
        return C.RawAiohttp("gemini", url)
    if name == EMPTY:
        return C.Genguard("gemini", url, list, name=EMPTY, deadline=300.0)
    # Production time scale (60 s attempt timeout), limits out of reach, generous deadline.
    return C.Genguard(
        "gemini",
        url,
        lambda: C.default_layers(unbound=True, quick=False),
        deadline=300.0,
    )


async def _child(name: str, clean_url: str, slow_url: str, n: int) -> dict[str, Any]:
    from .common import prompt

    warm = _make(name, clean_url)
    await warm.open()
    await asyncio.gather(*(warm.generate(prompt(i)) for i in range(200)))
    await warm.close()
    del warm
    contender = _make(name, slow_url)
    await contender.open()
    gc.collect()
    await asyncio.sleep(0.2)
    baseline = rss_bytes()

    loop = asyncio.get_running_loop()
    lags: list[tuple[float, float]] = []
    rss: list[tuple[float, int]] = []
    state = {"finished": 0, "first_done": 0.0, "steady": 0.0}
    stop = asyncio.Event()

    async def ticker() -> None:
        next_rss = 0.0
        while not stop.is_set():
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            now = loop.time()
            lags.append((now, now - expected))
            if now >= next_rss:
                rss.append((now, rss_bytes()))
                next_rss = now + 0.1

    async def steady_signal() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        line = await reader.readline()
        if line.strip() == b"steady":
            state["steady"] = loop.time()

    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        try:
            await contender.generate(prompt(i))
        except Exception:
            errors += 1
        if not state["first_done"]:
            state["first_done"] = loop.time()
        state["finished"] += 1

    tick = loop.create_task(ticker())
    signal = loop.create_task(steady_signal())
    launched = loop.time()
    print(json.dumps({"event": "launch"}), flush=True)
    await asyncio.gather(*(one(i) for i in range(n)))
    stop.set()
    await tick
    signal.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await signal
    await contender.close()

    steady, first = state["steady"], state["first_done"]
    steady_lags = [lag for t, lag in lags if steady and steady <= t < first]
    steady_rss = [r for t, r in rss if steady and steady <= t < first]
    all_lags = [lag for t, lag in lags if t < first]
    peak = max((r for _, r in rss), default=baseline)
    held = median(steady_rss) if steady_rss else float("nan")
    return {
        "calls": n,
        "errors": errors,
        "baseline_mb": baseline / 2**20,
        "peak_mb": peak / 2**20,
        "steady_mb": held / 2**20,
        "per_call_kb": (held - baseline) / n / 1024 if steady_rss else float("nan"),
        "launch_s": (steady - launched) if steady else float("nan"),
        "steady_s": (first - steady) if steady else 0.0,
        "lag_all_p50_ms": percentile(all_lags, 0.5) * 1000,
        "lag_all_p99_ms": percentile(all_lags, 0.99) * 1000,
        "lag_all_max_ms": max(all_lags, default=float("nan")) * 1000,
        "lag_steady_p50_ms": percentile(steady_lags, 0.5) * 1000,
        "lag_steady_p99_ms": percentile(steady_lags, 0.99) * 1000,
        "lag_steady_max_ms": max(steady_lags, default=float("nan")) * 1000,
        "rusage_maxrss_mb": _maxrss_mb(),
    }


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _one(sim: SimProcess, clean_url: str, name: str, n: int, hold: float) -> dict[str, Any]:
    [(index, slow_url)] = await sim.start("slow", record=False, fraction=1.0, delay=hold)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.scale", name, clean_url, slow_url, str(n),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=child_env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        await proc.stdout.readline()  # launched
        while (await sim.stats(index))["requests"] < n:
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        proc.stdin.write(b"steady\n")
        await proc.stdin.drain()
        out = await proc.stdout.read()
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sim.stop(index)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _all(budget: Budget, names: tuple[str, ...] = CONTENDERS) -> dict[str, dict[str, Any]]:
    n = budget.scale_calls
    hold = 20.0 if n >= 5000 else 3.0
    out: dict[str, dict[str, Any]] = {}
    async with SimProcess() as sim:
        [(_, clean_url)] = await sim.start("clean", record=False)
        for name in names:
            out[name] = await _one(sim, clean_url, name, n, hold)
    return out


def run(budget: Budget) -> Section:
    started = time.perf_counter()
    results = asyncio.run(_all(budget))
    n = budget.scale_calls
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                r["calls"],
                r["errors"],
                r["baseline_mb"],
                r["steady_mb"],
                r["peak_mb"],
                r["per_call_kb"],
                r["launch_s"],
                r["steady_s"],
                f"{r['lag_steady_p50_ms']:.1f} / {r['lag_steady_p99_ms']:.1f} / "
                f"{r['lag_steady_max_ms']:.1f}",
                f"{r['lag_all_p50_ms']:.1f} / {r['lag_all_p99_ms']:.1f} / "
                f"{r['lag_all_max_ms']:.0f}",
            ]
        )
    gg, raw = results["genguard"], results["raw aiohttp"]
    machinery_kb = gg["per_call_kb"] - raw["per_call_kb"]
    targets = [
        Target(
            "genguard's own memory <= 3 KB per in-flight call",
            f"{machinery_kb:+.1f} KB over raw aiohttp ({gg['per_call_kb']:.1f} KB per call in "
            f"all, {raw['per_call_kb']:.1f} KB of it raw aiohttp's own connection, protocol, "
            "response and task objects)",
            machinery_kb <= 3,
            ""
            if machinery_kb <= 3
            else (
                f"genguard's layers add {machinery_kb:.1f} KB per in-flight call on top of "
                "aiohttp's own: the Call and its billing ledger, a coroutine frame per layer, "
                "and one timer each for the deadline guard, the retry layer's deadline and the "
                "attempt timeout (their shares not measured separately)"
            ),
        ),
        Target(
            f"event-loop lag p99 < 10 ms at {n:,} in flight",
            f"{gg['lag_steady_p99_ms']:.1f} ms while all {n:,} are in flight; "
            f"{gg['lag_all_p99_ms']:.1f} ms over the whole run "
            f"(max {gg['lag_all_max_ms']:.0f} ms), launch included",
            gg["lag_steady_p99_ms"] < 10,
            ""
            if gg["lag_steady_p99_ms"] < 10
            else "the loop is still busy with socket reads and timers of the held calls",
        ),
    ]
    notes = [
        f"Launching {n:,} calls at once keeps the loop busy for the launch time shown "
        "(every call's CPU is spent up front), so lag during launch is the launch itself; "
        "the target is read on the steady window, when every call is in flight.",
    ]
    return Section(
        key="scale",
        title=f"4. Scale: {n:,} calls in flight",
        method=(
            f"{n:,} Gemini calls launched at once against a simulator that holds every "
            "response body (profile `slow`, fraction 1.0). genguard runs the default stack at "
            "production time scale (60 s attempt timeout) with the rate limit and "
            "concurrency cap out of reach; each contender runs in a fresh process after a "
            "200-call warm-up on a clean simulator. RSS is read from /proc every 100 ms."
        ),
        tables=[
            table(
                [
                    "contender",
                    "calls",
                    "errors",
                    "RSS before (MB)",
                    "RSS steady (MB)",
                    "RSS peak (MB)",
                    "per in-flight call (KB)",
                    "launch (s)",
                    "steady (s)",
                    "lag steady p50/p99/max (ms)",
                    "lag whole run p50/p99/max (ms)",
                ],
                rows,
            )
        ],
        targets=targets,
        notes=notes,
        data=results,
        seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    name, clean, slow, count = sys.argv[1:5]
    print(json.dumps(asyncio.run(_child(name, clean, slow, int(count)))), flush=True)
