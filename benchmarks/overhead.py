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
from .common import PROMPTS, Budget, Section, Target, median, prompt, table

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


def _sdk(exporter: bool, full: bool, safety: bool = True) -> Build:
    def build() -> tuple[list[Layer], Callable[[], None]]:
        layer, close = C.sdk_telemetry(exporter=exporter)
        layers = C.default_layers(layer, unbound=True) if full else [layer]
        return (layers if safety else _without_safety(layers)), close

    return build


def _without_safety(layers: list[Layer]) -> list[Layer]:
    return [layer for layer in layers if type(layer).__name__ != "SafetyLayer"]


def _first(count: int, sdk: bool = False) -> Build:
    """The default stack's first ``count`` layers (outermost first), telemetry included:
    the no-op layer (no SDK installed), or the SDK with the batch exporter."""

    def build() -> tuple[list[Layer], Callable[[], None]]:
        if not sdk:
            return C.default_layers(C.noop_telemetry(), unbound=True)[:count], _none
        layer, close = C.sdk_telemetry(exporter=True)
        return C.default_layers(layer, unbound=True)[:count], close

    return build


#: What each layer of the default stack is called in the breakdown.
LAYER_LABELS = {
    "TelemetryLayer": "+ telemetry (no SDK installed)",
    "SafetyLayer": "+ safety (rules classifier)",
    "RetryLayer": "+ retry",
    "CircuitBreakerLayer": "+ circuit breaker",
    "RateLimitLayer": "+ rate limit (+ concurrency cap)",
    "TimeoutLayer": "+ timeout",
}


def _breakdown_rows() -> list[tuple[str, Build]]:
    """Rows of the per-layer breakdown: the default stack grown one layer at a time,
    each row named by the layer it adds (read from the stack, not assumed)."""
    stack = C.default_layers(C.noop_telemetry(), unbound=True)
    rows: list[tuple[str, Build]] = [("Client, no layers", _first(0))]
    for count, layer in enumerate(stack, start=1):
        name = type(layer).__name__
        rows.append((LAYER_LABELS.get(name, f"+ {name}"), _first(count)))
    last, build = rows[-1]
    rows[-1] = (f"{last} (the full stack, telemetry off)", build)
    rows.append(("full stack, telemetry SDK + batch exporter", _first(len(stack), sdk=True)))
    return rows


#: Workers of the per-layer breakdown: calls in flight at once.
CONCURRENCY = 64
#: Length of the prompts the rules classifier is judged on.
CLASSIFIER_CHARS = 200


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
    (
        "full stack without safety, telemetry off",
        "full",
        _layers(lambda: _without_safety(C.default_layers(unbound=True))),
    ),
    (
        "full stack without safety, telemetry SDK + batch exporter",
        "full",
        _sdk(exporter=True, full=True, safety=False),
    ),
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


async def _concurrent(build: Build, calls: int, rounds: int) -> list[float]:
    """CPU per call with ``CONCURRENCY`` workers sharing one client (calls interleave)."""
    layers, close = build()
    client = Client(
        StaticProvider(name="gemini", model="gemini-2.5-flash-image"), layers, deadline=DEADLINE
    )

    async def worker(requests: list[GenerationRequest]) -> None:
        for request in requests:
            await client.generate(request)

    out = []
    try:
        for i in range(min(calls, 1000)):
            await client.generate(GenerationRequest(prompt=prompt(10**7 + i)))
        for r in range(rounds):
            requests = [GenerationRequest(prompt=prompt(r * calls + i)) for i in range(calls)]
            shares = [requests[w::CONCURRENCY] for w in range(CONCURRENCY)]
            gc.collect()
            start = time.process_time()
            await asyncio.gather(*(worker(share) for share in shares))
            out.append((time.process_time() - start) / calls)
    finally:
        await client.aclose()
        close()
    return out


def classifier_prompt(i: int) -> str:
    """A benign prompt of exactly ``CLASSIFIER_CHARS`` characters, different for every ``i``."""
    text = f"draft {i}: " + ", ".join(PROMPTS[i % len(PROMPTS) :] + PROMPTS[: i % len(PROMPTS)])
    return text[:CLASSIFIER_CHARS]


async def _classifier(calls: int, rounds: int) -> list[float]:
    """CPU per ``classify`` of the default rules classifier on 200-character prompts."""
    from genguard.safety.rules import RulesClassifier

    classifier = RulesClassifier()
    out = []
    for i in range(min(calls, 1000)):
        await classifier.classify(GenerationRequest(prompt=classifier_prompt(10**7 + i)))
    for r in range(rounds):
        requests = [
            GenerationRequest(prompt=classifier_prompt(r * calls + i)) for i in range(calls)
        ]
        gc.collect()
        start = time.process_time()
        for request in requests:
            await classifier.classify(request)
        out.append((time.process_time() - start) / calls)
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
    breakdown: dict[str, list[float]] = {}
    rows = _breakdown_rows()
    for label, build in rows:
        breakdown[label] = [t * 1e6 for t in await _concurrent(build, calls, rounds)]
    classifier = [t * 1e6 for t in await _classifier(calls, rounds)]
    return {
        "us": us,
        "spread": spread,
        "calls": calls,
        "rounds": rounds,
        "breakdown": breakdown,
        "classifier": classifier,
    }


def _breakdown_table(breakdown: dict[str, list[float]], calls: int, rounds: int) -> str:
    rows: list[list[object]] = []
    previous: float | None = None
    labels = list(breakdown)
    base = median(breakdown[labels[0]])
    for label in labels:
        runs = breakdown[label]
        value = median(runs)
        step = "-" if previous is None else f"{value - previous:+.1f}"
        if label.startswith("full stack, telemetry SDK"):
            step = f"{value - previous:+.1f} (the SDK over telemetry off)" if previous else "-"
        rows.append(
            [
                label,
                value,
                step,
                f"{value - base:+.1f}" if previous is not None else "-",
                f"{min(runs):.1f}-{max(runs):.1f}",
            ]
        )
        previous = value
    return table(
        ["stack", "CPU us/call", "this layer adds (us)", "over no layers (us)", "round range"],
        rows,
        caption=(
            f"**Per-layer breakdown under concurrency {CONCURRENCY}**: the default stack grown "
            f"one layer at a time, {CONCURRENCY} workers sharing one client, {calls:,} calls "
            f"per round, median of {rounds} rounds (range: lowest-highest round)."
        ),
    )


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
    off = us["full stack without safety, telemetry off"] - bare
    on = us["full stack without safety, telemetry SDK + batch exporter"] - bare
    off_all = us["full stack, telemetry off"] - bare
    on_all = us["full stack, telemetry SDK + batch exporter"] - bare
    layer_costs = {label: us[label] - base for label, group, _ in CASES if group == "layer"}
    off_layers = {k: v for k, v in layer_costs.items() if not k.startswith(("telemetry", "safety"))}
    top = max(off_layers, key=lambda k: off_layers[k])
    spread_off = spread["full stack without safety, telemetry off"] / 2
    spread_on = spread["full stack without safety, telemetry SDK + batch exporter"] / 2
    classifier = data["classifier"]
    rules = median(classifier)
    rules_spread = f"{min(classifier):.1f}-{max(classifier):.1f}"
    tables.insert(0, _breakdown_table(data["breakdown"], data["calls"], data["rounds"]))
    targets = [
        # The earlier targets, whole stack (rules classifier included).
        Target(
            "machinery <= 10 us CPU per call, telemetry off",
            f"{off_all:.1f} us",
            off_all <= 10,
            "" if off_all <= 10 else "the rules classifier and the rest (see the targets below)",
        ),
        Target(
            "machinery <= 45 us CPU per call, telemetry on",
            f"{on_all:.1f} us (SDK + batch exporter)",
            on_all <= 45,
            "" if on_all <= 45 else "the OpenTelemetry SDK's spans and metric records",
        ),
        Target(
            "machinery <= 15 us CPU per call without the safety classifier, telemetry off",
            f"{off:.1f} us ±{spread_off:.1f} (with the rules classifier: {off_all:.1f} us)",
            off <= 15,
            ""
            if off <= 15
            else (
                f"the client itself costs {base - bare:.1f} us (request checks, Call, billing "
                f"ledger, deadline guard, result copy) and the layers add the rest; the largest "
                f"is {top} at +{off_layers[top]:.1f} us"
            ),
        ),
        Target(
            "machinery <= 50 us CPU per call without the safety classifier, "
            "telemetry SDK + batch exporter",
            f"{on:.1f} us ±{spread_on:.1f} (with the rules classifier: {on_all:.1f} us)",
            on <= 50,
            ""
            if on <= 50
            else (
                f"telemetry alone adds "
                f"+{layer_costs['telemetry (SDK + batch exporter)']:.1f} us with the batch "
                f"exporter (a call span and an attempt span, metric records) on top of "
                f"{off:.1f} us for the rest of the stack"
            ),
        ),
        Target(
            f"rules classifier <= 15 us CPU per {CLASSIFIER_CHARS}-character prompt",
            f"{rules:.1f} us (rounds {rules_spread})",
            rules <= 15,
            ""
            if rules <= 15
            else (
                "normalising the text and its de-obfuscated views, and one scan each for "
                "spaced letters, letter runs, digit swaps and rule prefixes"
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
            "The per-layer breakdown runs the calls concurrently (as a service does); the "
            "other rows call one at a time. "
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
