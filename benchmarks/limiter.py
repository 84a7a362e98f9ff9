"""Section 5: rate-limiter accuracy, in process and as the server sees it.

In process: ``benchmarks/limiter_accuracy.py`` (the rate-limit layer's own
benchmark: thousands of callers against ``RateLimitLayer(requests="50/s")`` and
aiolimiter's ``AsyncLimiter(50, 1)``). End to end: the full default stack and
the hand-written stack, both set to 50 requests/s, driven by 64 closed-loop
workers against the simulator (its own process), which counts arrivals: the
busiest 1-s window at the server is what a provider's quota would see.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import contenders as C
from .common import Budget, Section, Target, prompt, table
from .simproc import SimProcess

RATE = 50
WORKERS = 64


def _layers() -> list[Any]:
    from genguard.layers.rate_limit import RateLimitLayer

    return [
        RateLimitLayer(requests=f"{RATE}/s", concurrency=WORKERS)
        if isinstance(layer, RateLimitLayer)
        else layer
        for layer in C.default_layers()
    ]


async def _worker(contender: C.Contender, first: int, until: float) -> None:
    i = first
    while time.monotonic() < until:
        await contender.generate(prompt(i))
        i += WORKERS


async def _end_to_end(seconds: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    async with SimProcess() as sim:
        for name in ("genguard", "tenacity+aiolimiter+pybreaker"):
            [(index, url)] = await sim.start("clean", record=True)
            contender: C.Contender = (
                C.Genguard("gemini", url, _layers, deadline=None)
                if name == "genguard"
                else C.Handwritten("gemini", url, rate=float(RATE))
            )
            await contender.open()
            start = time.monotonic()
            await asyncio.gather(*(_worker(contender, w, start + seconds) for w in range(WORKERS)))
            elapsed = time.monotonic() - start
            await contender.close()
            stats = await sim.stats(index, window=1.0)
            await sim.stop(index)
            out[name] = {
                "requests": stats["requests"],
                "max_in_any_1s_window": stats["max_in_window"],
                "utilisation": stats["requests"] / (RATE * elapsed),
                "seconds": elapsed,
            }
    return out


def run(budget: Budget) -> Section:
    from . import limiter_accuracy

    inproc = limiter_accuracy.run(quick=budget.name != "full")
    e2e = asyncio.run(_end_to_end(budget.limiter_seconds))
    gg, aio = inproc["genguard"], inproc["aiolimiter"]
    rate = inproc["configured_rate_per_s"]
    rows: list[list[object]] = [
        [
            "genguard RateLimitLayer (in process)",
            rate,
            gg["max_in_any_1s_window"],
            f"{100 * gg['utilisation']:.1f}%",
            gg["admitted"],
        ],
        [
            "aiolimiter AsyncLimiter (in process)",
            rate,
            aio["max_in_any_1s_window"],
            f"{100 * aio['admitted'] / (rate * inproc['seconds']):.1f}%",
            aio["admitted"],
        ],
    ]
    for name, r in e2e.items():
        rows.append(
            [
                f"{name} (at the server)",
                RATE,
                r["max_in_any_1s_window"],
                f"{100 * r['utilisation']:.1f}%",
                r["requests"],
            ]
        )
    after = inproc["after_cancel"]
    tables = [
        table(
            ["limiter", "configured /s", "max in any 1-s window", "utilisation", "admitted"],
            rows,
            caption=(
                f"In process: {inproc['callers']:,} callers for {inproc['seconds']:g} s. "
                f"At the server: {WORKERS} workers for {budget.limiter_seconds:g} s, "
                "windows counted by the simulator."
            ),
        ),
        table(
            ["after cancelling", "first admission after (s)", f"time for the next {rate} (s)"],
            [
                [
                    f"{after['cancelled']:,} queued callers",
                    after["first_admission_after_s"],
                    after[f"seconds_for_next_{rate}"],
                ]
            ],
        ),
    ]
    e2e_gg = e2e["genguard"]
    met = gg["max_in_any_1s_window"] <= rate
    targets = [
        Target(
            f"max admitted in any 1-s window <= configured ({rate}/s)",
            f"{gg['max_in_any_1s_window']} admitted in process; {e2e_gg['max_in_any_1s_window']} "
            f"arrivals at the server; aiolimiter {aio['max_in_any_1s_window']} in process",
            met,
            ""
            if met
            else "the limiter admitted more than the configured rate within one 1-s window",
        ),
    ]
    notes = [
        "Judged where admissions happen (in process). At the server, arrival times carry "
        "each request's own network and event-loop delay, so evenly spaced admissions can "
        "arrive a few milliseconds closer together and one more can fall inside a 1-s "
        "window; a provider counting strictly per sliding second would see that figure.",
    ]
    if aio["max_in_any_1s_window"] > rate:
        notes.append(
            f"aiolimiter admits its whole capacity at once on an idle limiter and then refills, "
            f"hence {aio['max_in_any_1s_window']} in its first second for a {rate}/s limit."
        )
    return Section(
        key="limiter",
        title="5. Limiter accuracy",
        method=(
            "Evenly spaced admissions (no burst configured) should put at most the "
            "configured count in any sliding 1-s window, and keep utilisation near 100% "
            "while callers wait."
        ),
        tables=tables,
        targets=targets,
        notes=notes,
        data={"in_process": inproc, "end_to_end": e2e},
    )
