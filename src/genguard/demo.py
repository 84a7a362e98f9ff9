"""The main job, runnable with no API key: the default stack against the simulator, summarised."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .billing import Cost
from .errors import ContentBlocked, GenGuardError
from .model import Call, GenerationRequest, GenerationResult
from .observe import MultiObserver, Observer
from .pipeline import Layer

PROMPTS = (
    "a watercolor fox in a snowy birch forest",
    "a red bicycle leaning on a blue door",
    "isometric pixel art of a tiny lighthouse",
    "a bowl of ramen, studio lighting",
    "a paper crane on a wooden desk",
    "an astronaut reading a newspaper on the moon",
    "a cozy cabin at dusk, warm windows",
    "three green apples on a white plate",
    "a graphic violence scene in a dark alley",
    "a corgi wearing sunglasses at the beach",
)


def default_stack(*, quick: bool = True, telemetry: Layer | None = None) -> list[Layer]:
    """The documented default order: telemetry, safety, retry, breaker, rate limit, timeout.

    The layers of a shipped profile (``genguard/profiles``), built by the one factory:
    ``quick`` (the default) takes ``sim`` from ``simulator.yaml``, whose backoff and
    timeouts are at simulator scale (5 s per attempt, 50 ms backoff), right for the
    embedded simulator and wrong for a real API, whose images take 5-60 s;
    ``quick=False`` takes the production ``gemini`` profile's layers. ``telemetry`` is
    put first when given; otherwise the stack has no telemetry layer.
    """
    from .profiles import layers_of

    layers: list[Layer] = [] if telemetry is None else [telemetry]
    layers += layers_of("sim" if quick else "gemini", telemetry=False)
    return layers


@dataclass
class Tally(Observer):
    """Counts what the layers did, for the summary table."""

    retries: Counter[str] = field(default_factory=Counter)
    waits: float = 0.0
    breaker: list[str] = field(default_factory=list)
    input_blocks: int = 0
    cost: Cost = field(default_factory=Cost)
    duplicates: int = 0

    def call_finished(
        self, call: Call, result: GenerationResult | None, error: BaseException | None
    ) -> None:
        self.cost = self.cost + call.billing.cost()
        self.duplicates += call.billing.possibly_billed_duplicates

    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        self.retries[f"{reason}{' (' + hint_source + ')' if hint_source else ''}"] += 1

    def limiter_waited(self, call: Call, key: str, seconds: float, reason: str) -> None:
        self.waits += seconds

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.breaker.append(f"{old}->{new}")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class DemoSummary:
    """What a demo run found: ``data`` for ``--json``, ``lines`` for people, the exit code."""

    data: dict[str, Any]
    lines: list[str]
    exit_code: int


#: Said in every demo output: these settings are for the simulator, not for real APIs.
SIMULATOR_SCALE = (
    "simulator-scale policy (5 s per attempt, 50 ms backoff): for the simulator only; "
    "real APIs use the shipped production profiles (genguard.profiles)"
)


async def demo_summary(
    *,
    profile: str = "flaky",
    api: str = "gemini",
    calls: int = 40,
    concurrency: int = 8,
    seed: int = 7,
    meter_provider: Any = None,
    announce: Any = None,
    profile_options: Mapping[str, Any] | None = None,
) -> DemoSummary:
    """Run ``calls`` generations against the simulator and summarise what the layers did.

    The client is the shipped ``sim`` profile (``sim-openai`` for ``api="openai"``)
    built by the one factory, with the simulator under fault profile ``profile``.
    ``announce(line)`` is called once the simulator is up (with its URL);
    ``profile_options`` tune the fault profile (e.g. ``{"resets": 0.3}``);
    ``meter_provider`` feeds the telemetry layer's metrics (an exporter the caller runs).
    """
    from .profiles import production_client

    tally = Tally()
    client = production_client(
        "sim" if api == "gemini" else "sim-openai",
        simulator=profile,
        simulator_options={"seed": seed, **dict(profile_options or {})},
        observer=MultiObserver(tally),
        meter_provider=meter_provider,
    )
    async with client:
        sim = client.simulator
        if announce is not None:
            announce(
                f"genguard demo: {calls} generations, {concurrency} at a time, {api} API on the "
                f"embedded simulator ({sim.base_url}, profile '{profile}'), {SIMULATOR_SCALE}"
            )
        results: list[GenerationResult] = []
        failures: Counter[str] = Counter()
        blocks: Counter[str] = Counter()
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            prompt = PROMPTS[index % len(PROMPTS)] + f" #{index}"
            async with gate:
                try:
                    result = await client.generate(GenerationRequest(prompt=prompt, seed=index))
                except ContentBlocked as blocked:
                    blocks[f"{blocked.stage}/{blocked.category} ({blocked.source})"] += 1
                except GenGuardError as error:
                    failures[type(error).__name__] += 1
                else:
                    results.append(result)
                    latencies.append(result.latency)

        await asyncio.gather(*(one(i) for i in range(calls)))

        attempts = sum(r.attempts for r in results)
        upstream = len(sim.log)
        violations = sim.retry_after_violations
        bill = sim.ledger.total
    percentiles = {q: _percentile(latencies, q) for q in (0.5, 0.95, 0.99)}
    data: dict[str, Any] = {
        "calls": calls,
        "api": api,
        "simulator_profile": profile,
        "policy": "simulator-scale",
        "succeeded": len(results),
        "blocked": dict(sorted(blocks.items())),
        "failed": dict(sorted(failures.items())),
        "attempts_successful_calls": attempts,
        "retries": dict(tally.retries.most_common()),
        "upstream_requests": upstream,
        "retry_after_violations": violations,
        "limiter_wait_s": round(tally.waits, 3),
        "breaker_transitions": list(tally.breaker),
        "latency_s": {f"p{int(q * 100)}": round(v, 4) for q, v in percentiles.items()},
        "cost": {
            "settled": str(tally.cost.settled),
            "possibly_billed": str(tally.cost.possibly_billed),
            "currency": tally.cost.currency,
            "simulator_bill": str(bill),
            "possibly_billed_duplicates": tally.duplicates,
        },
    }
    rows: list[tuple[str, str, list[str]]] = [
        ("calls", f"{calls}", []),
        ("succeeded", f"{len(results)} ({100 * len(results) / calls:.0f}%)", []),
        ("blocked", f"{sum(blocks.values())}", [f"{k}: {v}" for k, v in sorted(blocks.items())]),
        (
            "failed",
            f"{sum(failures.values())}",
            [f"{k}: {v}" for k, v in sorted(failures.items())],
        ),
        ("attempts (successful calls)", f"{attempts}", []),
        (
            "retries",
            f"{sum(tally.retries.values())}",
            [f"{k}: {v}" for k, v in tally.retries.most_common()],
        ),
        ("upstream requests", f"{upstream} ({upstream / calls:.2f} per call)", []),
        ("Retry-After violations", f"{violations}", []),
        ("limiter wait (total)", f"{tally.waits:.2f} s", []),
        ("breaker transitions", ", ".join(tally.breaker) or "none", []),
        (
            "latency p50 / p95 / p99",
            " / ".join(f"{v * 1000:.0f} ms" for v in percentiles.values()),
            [],
        ),
        (
            "cost",
            f"{tally.cost.settled:.4f} {tally.cost.currency} settled"
            f" + {tally.cost.possibly_billed:.4f} possibly billed",
            [f"simulator's bill: {bill:.4f} {tally.cost.currency}"],
        ),
        ("possibly-billed duplicates", f"{tally.duplicates}", []),
        (
            "latency mean",
            f"{statistics.fmean(latencies) * 1000:.0f} ms" if latencies else "n/a",
            [],
        ),
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [""]
    for name, value, details in rows:
        lines.append(f"  {name.ljust(width)}  {value}")
        lines.extend(f"  {''.ljust(width)}    {detail}" for detail in details)
    lines.append("")
    lines.append("Next: thousands of images from a job file, resumable: docs/batch.md")
    code = 0 if results or profile in ("safety", "outage") else 1
    return DemoSummary(data=data, lines=lines, exit_code=code)


async def run_demo(
    *,
    profile: str = "flaky",
    api: str = "gemini",
    calls: int = 40,
    concurrency: int = 8,
    seed: int = 7,
    metrics_port: int | None = None,
    out: Any = None,
) -> int:
    """Run ``calls`` generations and print a summary. Returns the process exit code."""
    out = out or sys.stdout
    metrics: Any = None
    if metrics_port is not None:
        from .telemetry.prometheus import start_metrics_server

        metrics = start_metrics_server(metrics_port)
    summary = await demo_summary(
        profile=profile,
        api=api,
        calls=calls,
        concurrency=concurrency,
        seed=seed,
        meter_provider=None if metrics is None else metrics.meter_provider,
        announce=lambda line: print(line, file=out),
    )
    for line in summary.lines:
        print(line, file=out)
    if metrics is not None:
        await serve_metrics_until_interrupted(metrics, lambda line: print(line, file=out))
    return summary.exit_code


async def serve_metrics_until_interrupted(metrics: Any, announce: Any) -> None:
    """Keep the metrics endpoint up (for a dashboard to scrape) until interrupted."""
    announce(f"metrics at {metrics.url} (Ctrl-C to stop)")
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()  # until interrupted
    finally:
        metrics.close()


__all__ = ["SIMULATOR_SCALE", "DemoSummary", "default_stack", "demo_summary", "run_demo"]
