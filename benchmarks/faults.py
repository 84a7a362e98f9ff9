"""Section 3: whole stacks under faults, every contender side by side in one run.

Each contender gets its own simulator (same fault, same seed) in the simulator
process, so upstream request counts and Retry-After violations are its own and
a rate-limit bucket or a daily quota is not shared. All contenders of both APIs
run at the same time: the fault is switched on for all of them at the same
instant (an outage starts together for everyone), then each runs its calls
closed-loop, ``concurrency`` at a time, each call with a 30 s deadline.

The faults are ``genguard.sim.profiles.FAULTS`` at production scale: 30%
503/429 with short hints (flaky), a server allowing 20 requests/s that the
client is not told about (server-rate), 30% random 429s whose Retry-After is an
HTTP-date 2 s ahead (random-429), 5 s of 503s (outage), 10% of responses
stalling 10 s (stall), and a per-day quota that runs out half way through the
calls (daily-quota: 100 images of 200).

A call counts as a success only if it succeeded within its deadline (30 s);
``max over`` is the largest ``latency - deadline`` of any call, success or not.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from genguard.model import Call
from genguard.observe import Observer
from genguard.pipeline import Layer
from genguard.sim.profiles import FAULTS

from . import contenders as C
from .common import Budget, Section, Target, percentile, prompt, table
from .simproc import SimProcess

DEADLINE = 30.0
CONCURRENCY = 16
GUARD = 120.0  # seconds; a call still running then is a failure ("hung")
#: What told the tuned stack: the server-rate fault's rate, and more attempts.
TUNED_RATE = "20/s"
TUNED_ATTEMPTS = 6
#: Upstream requests per call each fault allows (None: judged per spent call).
AMPLIFICATION = {
    "flaky": 1.45,
    "random-429": 1.45,
    "server-rate": 1.15,
    "outage": 1.15,
    "stall": 1.15,
    "daily-quota": None,
}
#: Calls and faults per budget (the report is written from ``full``).
SIZES: dict[str, tuple[int, tuple[str, ...]]] = {
    "full": (200, ("flaky", "server-rate", "random-429", "outage", "stall", "daily-quota")),
    "quick": (48, ("random-429", "daily-quota")),
    "smoke": (12, ("daily-quota",)),
}
GENGUARD = ("genguard (defaults)", "genguard (tuned)")

Factory = Callable[[str, str], C.Contender]


class Tally(Observer):
    """What genguard's layers did during a run, to explain its figures."""

    def __init__(self) -> None:
        self.pauses = 0
        self.breaker_opens = 0
        self.retries = 0
        self.gave_up: Counter[str] = Counter()

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        self.pauses += 1

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.breaker_opens += new == "open"

    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        self.retries += 1

    def retry_gave_up(self, call: Call, reason: str) -> None:
        self.gave_up[reason] += 1


def default_stack() -> list[Layer]:
    """The documented stack, every option at the library's default."""
    from genguard.layers.circuit_breaker import CircuitBreakerLayer
    from genguard.layers.rate_limit import RateLimitLayer
    from genguard.layers.retry import RetryLayer
    from genguard.layers.safety import SafetyLayer
    from genguard.layers.telemetry import TelemetryLayer
    from genguard.layers.timeout import TimeoutLayer
    from genguard.safety import ClassifierChain, RulesClassifier

    return [
        TelemetryLayer(logs=False),
        SafetyLayer(input=ClassifierChain([RulesClassifier()])),
        RetryLayer(),
        CircuitBreakerLayer(),
        RateLimitLayer(concurrency=CONCURRENCY),
        TimeoutLayer(),
    ]


def tuned_stack() -> list[Layer]:
    """The same stack told the server's rate and given more attempts."""
    from genguard.layers.rate_limit import RateLimitLayer
    from genguard.layers.retry import RetryLayer

    out: list[Layer] = []
    for layer in default_stack():
        if isinstance(layer, RateLimitLayer):
            layer = RateLimitLayer(requests=TUNED_RATE, concurrency=CONCURRENCY)
        elif isinstance(layer, RetryLayer):
            layer = RetryLayer(attempts=TUNED_ATTEMPTS)
        out.append(layer)
    return out


FACTORIES: list[tuple[str, Factory]] = [
    (
        "genguard (defaults)",
        lambda api, url: C.Genguard(
            api, url, default_stack, name=GENGUARD[0], deadline=DEADLINE, observer=Tally()
        ),
    ),
    (
        "genguard (tuned)",
        lambda api, url: C.Genguard(
            api, url, tuned_stack, name=GENGUARD[1], deadline=DEADLINE, observer=Tally()
        ),
    ),
    ("tenacity+aiolimiter+pybreaker", lambda api, url: C.Handwritten(api, url)),
    ("openai SDK", lambda api, url: C.OpenAISDK(url)),
    ("google-genai", lambda api, url: C.GoogleGenAI(url)),
    ("naive", lambda api, url: C.Naive(api, url)),
]
ONLY = {"openai SDK": "openai", "google-genai": "gemini"}


def _pairs() -> list[tuple[str, str, Factory]]:
    return [
        (api, name, make)
        for api in C.APIS
        for name, make in FACTORIES
        if ONLY.get(name, api) == api
    ]


async def _calls(contender: C.Contender, n: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failed: list[tuple[float, float]] = []  # (start, end) of each failed call
    outcomes: Counter[str] = Counter()
    queue = list(range(n))

    async def worker() -> None:
        while queue:
            i = queue.pop(0)
            start = loop.time()
            try:
                async with asyncio.timeout(GUARD):
                    await contender.generate(prompt(i))
                outcome = "ok"
            except TimeoutError:
                outcome = "hung"
            except Exception as error:
                outcome = type(error).__name__
            latency = loop.time() - start
            if outcome == "ok" and latency > DEADLINE:
                outcome = "late"
            outcomes[outcome] += 1
            latencies.append(latency)
            if outcome != "ok":
                failed.append((start, start + latency))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    # Once the first failure came back the client knew the quota was spent: how
    # long did the calls that started after that take to fail?
    known = min((end for _, end in failed), default=None)
    after = [end - start for start, end in failed if known is not None and start >= known]
    return {
        "outcomes": outcomes,
        "latencies": latencies,
        "failed": [end - start for start, end in failed],
        "failed_after": after,
    }


async def _fault(
    sim: SimProcess, sims: list[tuple[str, str, int, str]], fault: str, calls: int
) -> list[dict[str, Any]]:
    makers = {(api, name): make for api, name, make in _pairs()}
    contenders = [makers[(api, name)](api, url) for api, name, _, url in sims]
    for c in contenders:
        await c.open()
    profile, options = FAULTS[fault]
    if fault == "daily-quota":  # the quota runs out half way through the calls
        options = {**options, "images": calls // 2}
    try:
        await sim.set_profile([index for _, _, index, _ in sims], profile, **options)
        results = await asyncio.gather(*(_calls(c, calls) for c in contenders))
    finally:
        for c in contenders:
            await c.close()
    rows = []
    for (api, name, index, _), result, c in zip(sims, results, contenders, strict=True):
        stats = await sim.stats(index)
        outcomes: Counter[str] = result["outcomes"]
        ok = outcomes["ok"]
        failed = calls - ok
        lat = result["latencies"]
        tally = getattr(c, "_observer", None)
        rows.append(
            {
                "api": api,
                "contender": name,
                "fault": fault,
                "calls": calls,
                "ok": ok,
                "success": ok / calls,
                "upstream": stats["requests"],
                "upstream_per_call": stats["requests"] / calls,
                "upstream_per_failed": (stats["requests"] - ok) / failed if failed else None,
                "violations": stats["violations"],
                "max_over": max(lat) - DEADLINE,
                "max_failed_s": max(result["failed"], default=None),
                "max_failed_after_s": max(result["failed_after"], default=None),
                "p50_s": percentile(lat, 0.5),
                "p99_s": percentile(lat, 0.99),
                "failures": {k: v for k, v in outcomes.items() if k != "ok"},
                "tally": None
                if not isinstance(tally, Tally)
                else {
                    "pauses": tally.pauses,
                    "breaker_opens": tally.breaker_opens,
                    "retries": tally.retries,
                    "gave_up": dict(tally.gave_up),
                },
            }
        )
    return rows


async def _all(calls: int, faults: tuple[str, ...]) -> list[dict[str, Any]]:
    pairs = _pairs()
    async with SimProcess() as sim:
        rows: list[dict[str, Any]] = []
        for fault in faults:
            # Fresh simulators per fault: a spent quota or a learned bucket starts over.
            started = await sim.start("clean", count=len(pairs), record=False)
            sims = [
                (api, name, index, url)
                for (api, name, _), (index, url) in zip(pairs, started, strict=True)
            ]
            rows += await _fault(sim, sims, fault, calls)
            await sim.stop([index for _, _, index, _ in sims])
    return rows


def _failures(row: dict[str, Any]) -> str:
    items = sorted(row["failures"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in items) or "-"


def run(budget: Budget) -> Section:
    calls, faults = SIZES.get(budget.name, SIZES["quick"])
    rows = asyncio.run(_all(calls, faults))
    tables = []
    for api in C.APIS:
        body = []
        for fault in faults:
            for row in rows:
                if row["api"] != api or row["fault"] != fault:
                    continue
                body.append(
                    [
                        fault,
                        row["contender"],
                        f"{100 * row['success']:.1f}%",
                        f"{row['upstream_per_call']:.3f}",
                        "-"
                        if row["upstream_per_failed"] is None
                        else f"{row['upstream_per_failed']:.2f}",
                        row["violations"],
                        f"{row['max_over']:+.2f}",
                        row["p50_s"],
                        row["p99_s"],
                        _failures(row),
                    ]
                )
        label = "Gemini generateContent" if api == "gemini" else "OpenAI images/generations"
        tables.append(
            table(
                [
                    "fault",
                    "contender",
                    "success",
                    "upstream req/call",
                    "upstream req/failed call",
                    "Retry-After violations",
                    "max(latency - deadline) s",
                    "p50 s",
                    "p99 s",
                    "failures (by error type)",
                ],
                body,
                caption=f"**{label}**, {calls} calls per contender and fault, "
                f"{CONCURRENCY} at a time, {DEADLINE:g} s deadline.",
            )
        )
    notes = [
        "A success after the deadline counts as a failure (`late`); `hung` is a call "
        f"still running after {GUARD:g} s.",
        "`upstream req/failed call` is (upstream requests - successes) / failed calls: "
        "what each failure cost the provider. Under `daily-quota` it is at most 1 when "
        "a spent quota is not retried, and below 1 once the key refuses locally.",
        'Under `daily-quota`, "failures < 1 s" is judged on the calls that started after '
        "the first failure came back (the client could know the quota was spent); calls "
        "already queued or in flight then also wait their turn or their answer, and the "
        "slowest failure of any call is shown beside it.",
        "All contenders and both APIs run at once on a 2-core machine shared with other "
        "work, with the simulator in a second process: latencies include that load.",
    ]
    return Section(
        key="faults",
        title="3. Under faults",
        method=(
            f"{calls} calls per contender and fault, {CONCURRENCY} at a time (closed loop), "
            f"each with a {DEADLINE:g} s deadline, both APIs, every contender at once, each "
            "with its own simulator. Faults (`genguard.sim.profiles.FAULTS`): flaky (30% "
            "503/429 with hints up to 1 s), server-rate (20 requests/s per key, burst 1, the "
            "client not told), random-429 (30% 429 with Retry-After an HTTP-date 2 s ahead), "
            "outage (every request 503 for 5 s), stall (10% of bodies stall 10 s), "
            f"daily-quota (per-day quota spent after {calls // 2} images: Gemini "
            "QuotaFailure PerDay with RetryInfo, OpenAI insufficient_quota). genguard "
            "(defaults) is telemetry, "
            "safety, retry, circuit_breaker, rate_limit {concurrency: 16}, timeout with every "
            "other option at the library default; genguard (tuned) is the same told the "
            f"rate ({TUNED_RATE}) with {TUNED_ATTEMPTS} attempts. The hand-written stack is "
            "tenacity (5 attempts, `wait_random_exponential(0.05, max=2)` raised to a numeric "
            "Retry-After), `AsyncLimiter(100, 1)`, `CircuitBreaker(fail_max=8, "
            "reset_timeout=2)`, 5 s attempt timeout; the openai SDK and google-genai use "
            "their defaults with retries on (google-genai: `HttpRetryOptions()`, 5 attempts); "
            "the naive client retries anything after 1, 2, 4 s (a whole-second Retry-After "
            "replaces the delay)."
        ),
        tables=tables,
        targets=_targets(rows, faults),
        notes=notes,
        data={"rows": rows},
    )


def _targets(rows: list[dict[str, Any]], faults: tuple[str, ...]) -> list[Target]:
    targets: list[Target] = []
    for api in C.APIS:
        for fault in faults:
            cell = [r for r in rows if r["api"] == api and r["fault"] == fault]
            others = [r for r in cell if r["contender"] not in GENGUARD]
            best = max(others, key=lambda r: r["success"])
            bound = AMPLIFICATION.get(fault)
            for gg in (r for r in cell if r["contender"] in GENGUARD):
                misses = []
                if gg["success"] < best["success"]:
                    misses.append(
                        f"success {100 * gg['success']:.1f}% < {best['contender']} "
                        f"{100 * best['success']:.1f}%"
                    )
                if bound is not None and gg["upstream_per_call"] > bound:
                    misses.append(f"{gg['upstream_per_call']:.3f} req/call > {bound}")
                if bound is None:
                    per_failed = gg["upstream_per_failed"]
                    if per_failed is not None and per_failed > 1.0:
                        misses.append(f"{per_failed:.2f} requests per failed call > 1")
                    slowest = gg["max_failed_after_s"]
                    if slowest is not None and slowest >= 1.0:
                        misses.append(f"a failure once spent took {slowest:.2f} s (>= 1 s)")
                if gg["violations"]:
                    misses.append(f"{gg['violations']} Retry-After violations")
                amp = (
                    f"<= {bound} req/call"
                    if bound is not None
                    else "<= 1 req per spent call, failures < 1 s"
                )
                measured = (
                    f"{100 * gg['success']:.1f}% success, {gg['upstream_per_call']:.3f} req/call, "
                    f"{gg['violations']} violations, max over {gg['max_over']:+.2f} s"
                )
                if bound is None and gg["upstream_per_failed"] is not None:
                    after = gg["max_failed_after_s"]
                    measured += (
                        f", {gg['upstream_per_failed']:.2f} req/failed call, slowest failure "
                        f"once spent {'n/a' if after is None else f'{after:.3f} s'} (any: "
                        f"{gg['max_failed_s']:.3f} s)"
                    )
                targets.append(
                    Target(
                        f"{api}/{fault}, {gg['contender']}: success >= best other, {amp}, "
                        "0 violations",
                        measured,
                        not misses,
                        "; ".join(misses) + _why(gg, misses),
                    )
                )
    return targets


def _why(gg: dict[str, Any], misses: list[str]) -> str:
    if not misses:
        return ""
    tally = gg.get("tally") or {}
    return (
        f" (failures: {_failures(gg)}; retries {tally.get('retries', 0)}, "
        f"breaker opened {tally.get('breaker_opens', 0)} times, key paused "
        f"{tally.get('pauses', 0)} times)"
    )
