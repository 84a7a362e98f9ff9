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
from .common import Budget, Section, Target, median, prompt, table
from .simproc import SimProcess

RATE = 50
WORKERS = 64
#: The same stack with the limit out of reach, sent the same 50 calls/s open loop.
UNQUEUED = "genguard, limit out of reach, 50 calls/s open loop"
#: Rounds of the two genguard cases whose CPU per call is compared.
ROUNDS = 3


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


async def _open_loop(contender: C.Contender, until: float) -> None:
    """Start one call every ``1 / RATE`` s, whatever the others are doing: nobody waits."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: list[asyncio.Task[None]] = []
    i = 0
    while loop.time() < until:
        tasks.append(loop.create_task(contender.generate(prompt(i))))
        i += 1
        await asyncio.sleep(max(0.0, start + i / RATE - loop.time()))
    await asyncio.gather(*tasks)


async def _end_to_end(seconds: float, rounds: int = ROUNDS) -> dict[str, dict[str, Any]]:
    """Each contender for ``seconds``; the two genguard cases ``rounds`` times, interleaved
    (CPU per call is the median, with every round kept), the hand-written stack once."""
    out: dict[str, dict[str, Any]] = {}
    async with SimProcess() as sim:
        for r in range(rounds):
            for name in ("genguard", "tenacity+aiolimiter+pybreaker", UNQUEUED):
                if r and name == "tenacity+aiolimiter+pybreaker":
                    continue
                [(index, url)] = await sim.start("clean", record=True)
                contender: C.Contender = (
                    C.Genguard("gemini", url, _layers, deadline=None)
                    if name == "genguard"
                    else C.Genguard("gemini", url, lambda: C.default_layers(unbound=True))
                    if name == UNQUEUED
                    else C.Handwritten("gemini", url, rate=float(RATE))
                )
                await contender.open()
                await contender.generate(prompt(10**6))  # connection and caches, not measured
                cpu = time.process_time()
                start = time.monotonic()
                if name == UNQUEUED:
                    await _open_loop(contender, asyncio.get_running_loop().time() + seconds)
                else:
                    await asyncio.gather(
                        *(_worker(contender, w, start + seconds) for w in range(WORKERS))
                    )
                elapsed = time.monotonic() - start
                cpu = time.process_time() - cpu
                await contender.close()
                stats = await sim.stats(index, window=1.0)
                await sim.stop(index)
                per_call = cpu / max(1, stats["requests"] - 1) * 1e6
                entry = out.setdefault(
                    name,
                    {
                        "requests": stats["requests"],
                        "max_in_any_1s_window": stats["max_in_window"],
                        "utilisation": stats["requests"] / (RATE * elapsed),
                        "seconds": elapsed,
                        "cpu_us_runs": [],
                    },
                )
                entry["cpu_us_runs"].append(per_call)
    for entry in out.values():
        entry["cpu_us_per_call"] = median(entry["cpu_us_runs"])
    return out


def _runs(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}"


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
        if name == UNQUEUED:
            continue
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
    free = e2e[UNQUEUED]
    waiting_cost = e2e_gg["cpu_us_per_call"] / free["cpu_us_per_call"] - 1.0
    tables.append(
        table(
            ["genguard default stack", "calls (first round)", "client CPU us/call", "rounds"],
            [
                [
                    f"{WORKERS} workers queued at {RATE}/s (each waits)",
                    e2e_gg["requests"],
                    e2e_gg["cpu_us_per_call"],
                    _runs(e2e_gg["cpu_us_runs"]),
                ],
                [
                    f"limit out of reach, {RATE} calls/s open loop (nobody waits)",
                    free["requests"],
                    free["cpu_us_per_call"],
                    _runs(free["cpu_us_runs"]),
                ],
            ],
            caption=(
                "What waiting in a configured limiter costs: client CPU per call with every "
                "caller queued in the limiter, against the same stack at the same rate with "
                "no one waiting."
            ),
        )
    )
    waiting = inproc["waiting"]
    queued_us = waiting["queued_cpu_us_per_call"]
    open_us = waiting["open_loop_cpu_us_per_call"]
    queued_cost = queued_us / open_us - 1.0
    tables.append(
        table(
            ["RateLimitLayer in process", "CPU us/call", "rounds"],
            [
                [
                    f"{waiting['callers']:,} callers queued at {rate}/s (each admitted caller "
                    "asks again at once), once the queue is booked",
                    queued_us,
                    _runs(waiting["queued_cpu_us_runs"]),
                ],
                [
                    f"limit out of reach, {rate} calls/s open loop (nobody waits)",
                    open_us,
                    _runs(waiting["open_loop_cpu_us_runs"]),
                ],
                [
                    "limit out of reach, calls back to back (no idling between calls)",
                    inproc["unqueued"]["cpu_us_per_call"],
                    "-",
                ],
                [
                    f"{inproc['callers']:,} callers queued, booking of the queue included "
                    f"(whole {inproc['seconds']:g} s run over its admissions)",
                    gg["cpu_us_per_admission"],
                    "-",
                ],
            ],
            caption=(
                "What waiting costs in process: process CPU per call, medians of "
                f"{len(waiting['queued_cpu_us_runs'])} interleaved rounds of "
                f"{waiting['seconds']:g} s. Both of the first two rows idle between calls, and "
                "an idle process pays for every wake-up; calls back to back never idle."
            ),
        )
    )
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
        Target(
            f"waiting in a configured limiter adds <= 10% client CPU per call (end to end, "
            f"{WORKERS} workers at {RATE}/s against the same rate open loop)",
            f"{100 * waiting_cost:+.0f}% (median {e2e_gg['cpu_us_per_call']:.0f} vs "
            f"{free['cpu_us_per_call']:.0f} us per call over {len(free['cpu_us_runs'])} "
            f"rounds; rounds {_runs(e2e_gg['cpu_us_runs'])} vs {_runs(free['cpu_us_runs'])})",
            waiting_cost <= 0.10,
            ""
            if waiting_cost <= 0.10
            else (
                "a queued call still pays its limiter booking, its one timer and its wake-up, "
                "and the 64 closed-loop workers keep the loop busier than an open-loop sender"
            ),
        ),
        Target(
            f"waiting adds <= 10% CPU per call, in process ({waiting['callers']:,} callers "
            f"queued at {rate}/s against the same rate open loop)",
            f"{100 * queued_cost:+.0f}% (median {queued_us:.0f} vs {open_us:.0f} us per call; "
            f"rounds {_runs(waiting['queued_cpu_us_runs'])} vs "
            f"{_runs(waiting['open_loop_cpu_us_runs'])})",
            queued_cost <= 0.10,
            ""
            if queued_cost <= 0.10
            else (
                "a queued caller pays its booking, one timer and its wake-up, and wakes again "
                "when the trailing-window guard holds it a little longer"
            ),
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
