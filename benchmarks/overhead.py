"""Section 1: CPU per call of genguard's machinery, with an in-process provider (no network).

Each case is a ``Client`` around ``StaticProvider`` (answers at once) called
sequentially; CPU time (``time.process_time``, so the batch exporter's thread
counts too) divided by calls, median of several rounds. The rate limit is set
out of reach so the limiter books every call without ever sleeping.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from genguard import Client, GenerationRequest
from genguard.model import Call
from genguard.observe import NOOP_OBSERVER
from genguard.pipeline import Layer
from genguard.providers.static import StaticProvider
from genguard.providers.transport import HttpTransport

from . import contenders as C
from .common import Budget, Section, Target, median, prompt, table

#: Every call runs under a deadline, as in any production config (the default file says 120 s).
DEADLINE = 30.0

Build = Callable[[], tuple[list[Layer], Callable[[], None]]]


def _none() -> None:
    return None


def _layers(make: Callable[[], list[Layer]]) -> Build:
    return lambda: (make(), _none)


def _single(kind: str) -> Build:
    """One layer of the default stack, alone."""

    def build() -> tuple[list[Layer], Callable[[], None]]:
        stack = C.default_layers(unbound=True)
        return [next(x for x in stack if type(x).__name__ == kind)], _none

    return build


def _sdk(exporter: bool, full: bool) -> Build:
    def build() -> tuple[list[Layer], Callable[[], None]]:
        layer, close = C.sdk_telemetry(exporter=exporter)
        return (C.default_layers(layer, unbound=True) if full else [layer]), close

    return build


#: (label, group, builder); group "layer" rows are compared with the no-layer client.
CASES: list[tuple[str, str, Build]] = [
    ("Client, no layers", "base", _layers(list)),
    ("telemetry (no SDK installed)", "layer", _layers(lambda: [C.noop_telemetry()])),
    ("telemetry (SDK, no exporter)", "layer", _sdk(exporter=False, full=False)),
    ("telemetry (SDK + batch exporter)", "layer", _sdk(exporter=True, full=False)),
    ("safety (rules classifier)", "layer", _single("SafetyLayer")),
    ("retry", "layer", _single("RetryLayer")),
    ("circuit breaker", "layer", _single("CircuitBreakerLayer")),
    ("rate limit (+ concurrency cap)", "layer", _single("RateLimitLayer")),
    ("timeout", "layer", _single("TimeoutLayer")),
    ("full stack, telemetry off", "full", _layers(lambda: C.default_layers(unbound=True))),
    ("full stack, telemetry SDK, no exporter", "full", _sdk(exporter=False, full=True)),
    ("full stack, telemetry SDK + batch exporter", "full", _sdk(exporter=True, full=True)),
]


async def _bare(calls: int, rounds: int) -> list[float]:
    """CPU per call of ``provider.send`` alone, on a prebuilt call."""
    provider = StaticProvider(name="gemini", model="gemini-2.5-flash-image")
    transport = HttpTransport()
    clock = Client(provider).clock
    call = Call(
        request=GenerationRequest(prompt="a lighthouse at dusk"),
        generation_id="0" * 32,
        provider="gemini",
        model="gemini-2.5-flash-image",
        key="gemini/gemini-2.5-flash-image",
        observer=NOOP_OBSERVER,
        clock=clock,
        started_at=clock.now(),
    )
    out = []
    for _ in range(min(calls, 1000)):
        await provider.send(call, transport)
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        for _ in range(calls):
            await provider.send(call, transport)
        out.append((time.process_time() - start) / calls)
    return out


async def _case(build: Build, calls: int, rounds: int) -> list[float]:
    layers, close = build()
    client = Client(
        StaticProvider(name="gemini", model="gemini-2.5-flash-image"), layers, deadline=DEADLINE
    )
    out = []
    try:
        for i in range(min(calls, 1000)):  # warm-up: lazy instruments, caches
            await client.generate(GenerationRequest(prompt=prompt(10**7 + i)))
        for r in range(rounds):
            # Every call has its own prompt, as in real use: classifiers cannot cache.
            requests = [GenerationRequest(prompt=prompt(r * calls + i)) for i in range(calls)]
            gc.collect()
            start = time.process_time()
            for request in requests:
                await client.generate(request)
            out.append((time.process_time() - start) / calls)
    finally:
        await client.aclose()
        close()
    return out


async def _measure(budget: Budget) -> dict[str, Any]:
    calls, rounds = budget.overhead_calls, budget.overhead_rounds
    us: dict[str, float] = {}
    spread: dict[str, float] = {}
    bare = await _bare(calls, rounds)
    us["provider.send alone"] = median(bare) * 1e6
    spread["provider.send alone"] = (max(bare) - min(bare)) * 1e6
    for label, _, build in CASES:
        times = await _case(build, calls, rounds)
        us[label] = median(times) * 1e6
        spread[label] = (max(times) - min(times)) * 1e6
    return {"us": us, "spread": spread, "calls": calls, "rounds": rounds}


def run(budget: Budget) -> Section:
    data = asyncio.run(_measure(budget))
    telemetry_overhead: dict[str, Any] | None = None
    try:
        from . import telemetry_overhead as tel

        telemetry_overhead = tel.run(quick=budget.telemetry_quick)
    except ImportError:
        telemetry_overhead = None
    us: dict[str, float] = data["us"]
    spread: dict[str, float] = data["spread"]
    bare = us["provider.send alone"]
    base = us["Client, no layers"]
    rows: list[list[object]] = [["provider.send alone", "-", us["provider.send alone"], "-", "-"]]
    for label, group, _ in CASES:
        if group == "base":
            rows.append([label, "client", us[label], f"+{us[label] - bare:.1f}", "-"])
        elif group == "layer":
            rows.append([label, "layer alone", us[label], "-", f"{us[label] - base:+.1f}"])
        else:
            rows.append([label, "stack", us[label], f"+{us[label] - bare:.1f}", "-"])
    for row, label in zip(rows, ["provider.send alone", *(c[0] for c in CASES)], strict=True):
        row.append(f"±{spread[label] / 2:.1f}")
    tables = [
        table(
            [
                "case",
                "kind",
                "CPU us/call",
                "machinery (us over provider.send)",
                "layer (us over bare Client)",
                "round spread",
            ],
            rows,
            caption=(
                f"{data['calls']:,} sequential calls per round, median of {data['rounds']} "
                "rounds; CPU time of the whole process."
            ),
        )
    ]
    off = us["full stack, telemetry off"] - bare
    on = us["full stack, telemetry SDK + batch exporter"] - bare
    on_noexp = us["full stack, telemetry SDK, no exporter"] - bare
    layer_costs = {label: us[label] - base for label, group, _ in CASES if group == "layer"}
    off_layers = {k: v for k, v in layer_costs.items() if not k.startswith("telemetry")}
    top = max(off_layers, key=lambda k: off_layers[k])
    targets = [
        Target(
            "machinery <= 10 us CPU per call, telemetry off",
            f"{off:.1f} us",
            off <= 10,
            ""
            if off <= 10
            else (
                f"the client itself costs {base - bare:.1f} us (request id, Call, result copy) "
                f"and the layers add the rest; the largest is {top} at +{off_layers[top]:.1f} us"
            ),
        ),
        Target(
            "machinery <= 45 us CPU per call, telemetry on",
            f"{on:.1f} us (SDK + batch exporter); {on_noexp:.1f} us (SDK, no exporter)",
            on <= 45,
            ""
            if on <= 45
            else (
                f"telemetry alone adds "
                f"+{layer_costs['telemetry (SDK + batch exporter)']:.1f} us with the batch "
                f"exporter (one span with events, metric records) on top of {off:.1f} us "
                "for the rest of the stack"
            ),
        ),
    ]
    if telemetry_overhead is not None:
        per_call = telemetry_overhead.get("per_call_us", {})
        extra = telemetry_overhead.get("overhead_us", {})
        tables.append(
            table(
                ["case", "us/call (wall)", "over baseline"],
                [
                    [name, value, "-" if name not in extra else f"{extra[name]:+.1f}"]
                    for name, value in per_call.items()
                ],
                caption=(
                    "The telemetry layer's own benchmark (`benchmarks/telemetry_overhead.py`, "
                    f"{telemetry_overhead.get('calls_per_round', '?'):,} calls x "
                    f"{telemetry_overhead.get('rounds', '?')} rounds, best round, wall clock):"
                ),
            )
        )
    return Section(
        key="overhead",
        title="1. Overhead (in-process provider, no network)",
        method=(
            "`StaticProvider` answers at once, so what is left is genguard's own CPU. "
            "`machinery` is a case's CPU per call minus `provider.send` called alone on a "
            "prebuilt call; a single layer is compared with the client with no layers. "
            "The stack is `genguard.demo.default_stack` (telemetry, safety with the rules "
            "classifier, retry, circuit breaker, rate limit with a concurrency cap, timeout) "
            "with the rate limit set out of reach so no call ever waits. Telemetry 'on' is "
            "the OpenTelemetry SDK (spans and metrics) with logs off."
        ),
        tables=tables,
        targets=targets,
        data={"us": us, "telemetry_overhead": telemetry_overhead},
    )
