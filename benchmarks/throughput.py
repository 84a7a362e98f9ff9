"""Section 2: calls per second on loopback against the simulator's clean profile.

The simulator runs in its own process, so the client's CPU (``process_time``) is
its own. Every contender is open for the whole section and the cells are
interleaved (each round visits every contender, in a rotating order), so slow
drift of the machine hits all of them alike. Figures are medians over rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from . import contenders as C
from .common import Budget, Section, Target, fmt_ratio, median, prompt, ratio, table
from .simproc import SimProcess

RAW = "raw aiohttp"
GG = "genguard"
GG_TEL = "genguard + telemetry"
EMPTY = "genguard, empty pipeline"
HAND = "tenacity+aiolimiter+pybreaker"


def _contenders(api: str, url: str) -> list[C.Contender]:
    out: list[C.Contender] = [
        C.RawAiohttp(api, url),
        C.Genguard(api, url, list, name=EMPTY),
        C.Genguard(api, url, lambda: C.default_layers(unbound=True)),
        C.genguard_with_telemetry(api, url, unbound=True),
        C.Handwritten(api, url, rate=1_000_000.0),
    ]
    if api == "openai":
        out.append(C.OpenAISDK(url))
    return out


async def _drive(
    contender: C.Contender, concurrency: int, *, calls: int = 0, until: float = 0.0, offset: int = 0
) -> tuple[int, int]:
    """Run ``concurrency`` workers until ``calls`` are done or the loop time passes ``until``."""
    loop = asyncio.get_running_loop()
    ok = 0
    errors = 0
    issued = 0

    async def worker() -> None:
        nonlocal ok, errors, issued
        while (calls and issued < calls) or (until and loop.time() < until):
            issued += 1
            try:
                await contender.generate(prompt(offset + issued))
                ok += 1
            except Exception:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, errors


async def _cell(
    sim: SimProcess, contender: C.Contender, concurrency: int, seconds: float
) -> dict[str, float]:
    await _drive(contender, concurrency, calls=max(2 * concurrency, 50))  # warm-up
    loop = asyncio.get_running_loop()
    sim_cpu0 = await sim.cpu()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    ok, errors = await _drive(contender, concurrency, until=loop.time() + seconds, offset=10**6)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    sim_cpu = await sim.cpu() - sim_cpu0
    done = max(1, ok + errors)
    return {
        "rps": ok / wall,
        "cpu_us": cpu / done * 1e6,
        "client_busy": cpu / wall,
        "sim_busy": sim_cpu / wall,
        "sim_us": sim_cpu / done * 1e6,
        "errors": errors,
    }


async def _api(api: str, budget: Budget) -> dict[str, Any]:
    async with SimProcess() as sim:
        [(_, url)] = await sim.start("clean", record=False)
        contenders = _contenders(api, url)
        for c in contenders:
            await c.open()
        cells: dict[tuple[str, int], list[dict[str, float]]] = {}
        try:
            for concurrency in budget.concurrencies:
                for r in range(budget.throughput_rounds):
                    order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
                    for c in order:
                        cell = await _cell(sim, c, concurrency, budget.throughput_seconds)
                        cells.setdefault((c.name, concurrency), []).append(cell)
        finally:
            for c in contenders:
                await c.close()
    names = [c.name for c in contenders]
    summary: dict[str, dict[int, dict[str, float]]] = {}
    for (name, conc), runs in cells.items():
        summary.setdefault(name, {})[conc] = {
            key: median([run[key] for run in runs]) for key in runs[0]
        }
    # Per round, each contender against raw aiohttp measured in the same round.
    rounds: dict[str, dict[int, dict[str, list[float]]]] = {}
    for (name, conc), runs in cells.items():
        raw_runs = cells[(RAW, conc)]
        rounds.setdefault(name, {})[conc] = {
            "ratio": [ratio(run["rps"], r["rps"]) for run, r in zip(runs, raw_runs, strict=True)],
            "cpu_ratio": [
                run["cpu_us"] / r["cpu_us"] if r["cpu_us"] else float("nan")
                for run, r in zip(runs, raw_runs, strict=True)
            ],
        }
    return {"names": names, "cells": summary, "rounds": rounds}


def _range(values: Sequence[float], unit: str = "x") -> str:
    """The lowest and highest round, so a reader can tell a change from noise."""
    if len(values) < 2:
        return "one round"
    return f"rounds {min(values):.2f}{unit}-{max(values):.2f}{unit}"


def _tables(api: str, result: dict[str, Any], concurrencies: Sequence[int]) -> list[str]:
    names: list[str] = result["names"]
    cells: dict[str, dict[int, dict[str, float]]] = result["cells"]
    raw = cells[RAW]
    compact = []
    for name in names:
        row: list[object] = [name]
        for conc in concurrencies:
            rps = cells[name][conc]["rps"]
            row.append(f"{rps:,.0f} ({fmt_ratio(ratio(rps, raw[conc]['rps']))})")
        compact.append(row)
    detail = []
    for conc in concurrencies:
        for name in names:
            cell = cells[name][conc]
            detail.append(
                [
                    conc,
                    name,
                    cell["rps"],
                    fmt_ratio(ratio(cell["rps"], raw[conc]["rps"])),
                    cell["cpu_us"],
                    "-" if name == RAW else f"{cell['cpu_us'] - raw[conc]['cpu_us']:+.0f}",
                    f"{100 * cell['client_busy']:.0f}%",
                    f"{100 * cell['sim_busy']:.0f}%",
                    int(cell["errors"]),
                ]
            )
    label = "Gemini generateContent" if api == "gemini" else "OpenAI images/generations"
    return [
        table(
            ["contender", *(f"c={c}: calls/s (x raw)" for c in concurrencies)],
            compact,
            caption=f"**{label}**: calls/s and ratio to raw aiohttp, by concurrency.",
        ),
        table(
            [
                "concurrency",
                "contender",
                "calls/s",
                "x raw",
                "client CPU us/call",
                "us over raw",
                "client CPU busy",
                "simulator CPU busy",
                "errors",
            ],
            detail,
            caption=f"{label}, in detail (CPU busy: CPU seconds per wall second of the process).",
        ),
    ]


def run(budget: Budget) -> Section:
    results = {api: asyncio.run(_api(api, budget)) for api in C.APIS}
    tables: list[str] = []
    for api in C.APIS:
        tables += _tables(api, results[api], budget.concurrencies)
    targets: list[Target] = []
    notes: list[str] = []
    at = 64 if 64 in budget.concurrencies else budget.concurrencies[-1]
    for api in C.APIS:
        cells = results[api]["cells"]
        rounds = results[api]["rounds"]
        raw = cells[RAW][at]
        hand = cells[HAND][at]
        hand_ratio = ratio(hand["rps"], raw["rps"])
        for name, goal, what in (
            (EMPTY, 0.95, "empty pipeline"),
            (GG, 0.8, "full stack, telemetry off"),
            (GG_TEL, 0.6, "full stack, telemetry SDK + batch exporter"),
        ):
            cell = cells[name][at]
            r = ratio(cell["rps"], raw["rps"])
            extra = cell["cpu_us"] - raw["cpu_us"]
            met = r >= goal
            label = f"{api}: {what} at c={at} >= {goal}x raw aiohttp"
            if name == GG:
                label += " and above the hand-written stack"
                met = met and r > hand_ratio
            why = ""
            if not met:
                why = (
                    f"CPU bound: {name} spends {cell['cpu_us']:.0f} us of client CPU per call "
                    f"against raw aiohttp's {raw['cpu_us']:.0f} us (+{extra:.0f} us; section 1 "
                    "shows which layers), and on this machine the client and the simulator "
                    f"together used about {cell['client_busy'] + cell['sim_busy']:.1f} cores, "
                    "so calls/s fall roughly as CPU per call rises"
                )
            elif raw["sim_busy"] > 0.9:
                why = "met, but the simulator was near saturation, which compresses ratios"
            measured = (
                f"{fmt_ratio(r)} ({_range(rounds[name][at]['ratio'])}; "
                f"{cell['rps']:,.0f} vs {raw['rps']:,.0f} calls/s"
            )
            if name == GG:
                measured += f"; hand-written {fmt_ratio(hand_ratio)}"
            targets.append(Target(label, measured + ")", met, why))
        cell = cells[GG][at]
        cpu = cell["cpu_us"] / raw["cpu_us"] if raw["cpu_us"] else float("nan")
        targets.append(
            Target(
                f"{api}: client CPU per call of the full stack (telemetry off) at c={at} "
                "<= 1.5x raw aiohttp",
                f"{cpu:.2f}x ({_range(rounds[GG][at]['cpu_ratio'])}; "
                f"{cell['cpu_us']:.0f} vs {raw['cpu_us']:.0f} us)",
                cpu <= 1.5,
                ""
                if cpu <= 1.5
                else (
                    f"+{cell['cpu_us'] - raw['cpu_us']:.0f} us per call: the pipeline's "
                    "machinery (section 1) plus the provider's request checks, catalogue "
                    "validation, response mapping and billing, which raw aiohttp does not do"
                ),
            )
        )
    for api in C.APIS:
        cells = results[api]["cells"]
        busy = max(cells[RAW][c]["sim_busy"] for c in budget.concurrencies)
        notes.append(
            f"{api}: the simulator process was at most {100 * busy:.0f}% busy under raw "
            "aiohttp; the client process, not the server, sets the ceiling when its CPU "
            "busy figure is near 100%."
        )
    return Section(
        key="throughput",
        title="2. Throughput on loopback (clean profile)",
        method=(
            "Closed loop: `c` workers each send the next call as soon as the last one "
            f"returns, for {budget.throughput_seconds:g} s per cell after a warm-up, "
            f"median of {budget.throughput_rounds} interleaved rounds. The simulator "
            "(`genguard.sim`) runs in a separate process on the same machine. genguard is "
            "the default stack (`genguard.demo.default_stack`) and the hand-written stack "
            "its tenacity + aiolimiter + pybreaker counterpart (`benchmarks/contenders.py`); "
            "for both, the rate limit is set out of reach (1,000,000/s) so the limiter's "
            "bookkeeping runs but never waits, and genguard's concurrency cap is lifted. "
            "Every aiohttp contender uses the same connector (no connection cap); the "
            "OpenAI SDK runs with its defaults. Telemetry on = OpenTelemetry SDK tracer and "
            "meter providers with a BatchSpanProcessor and a periodic metric reader feeding "
            "exporters that drop the data."
        ),
        tables=tables,
        targets=targets,
        notes=notes,
        data=results,
    )
