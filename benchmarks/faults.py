"""Section 3: every contender under each fault profile of the simulator.

Each contender gets its own simulator (same profile, same seed, same options:
the profile defaults) in the simulator process, so upstream request counts and
Retry-After violations are its own, and a rate-limit bucket is not shared. The
contenders of both APIs run at the same time, fed the same prompts on the same
open-loop schedule (calls arrive at a fixed rate, whatever the answers), and
the profile is switched on for all of them at the same instant, so an outage
starts together for everyone.

Ground truth for safety blocks comes from the simulator's own rule
(``genguard.sim.make_profile("safety").blocked(prompt)``): a block is
misclassified when the client does not report it as a content block (a
dedicated error type, or the SDK's documented error code), and a call the
server did not block is misclassified when the client reports a block.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from genguard.model import Call
from genguard.observe import Observer
from genguard.sim import make_profile

from . import contenders as C
from .common import ALL_PROFILES, Budget, Section, Target, percentile, prompt, table
from .simproc import SimProcess

PROFILES = ALL_PROFILES
GUARD = 120.0  # seconds; a call still running then is a failure ("hung")

Factory = Callable[[str, str], C.Contender]


class Tally(Observer):
    """What genguard's layers did during a run, to explain its figures."""

    def __init__(self) -> None:
        self.pauses = 0
        self.paused_s = 0.0
        self.breaker_opens = 0
        self.retries = 0
        self.gave_up: Counter[str] = Counter()

    def limiter_paused(self, call: Call, key: str, seconds: float, source: str) -> None:
        self.pauses += 1
        self.paused_s += seconds

    def breaker_changed(self, call: Call | None, key: str, old: str, new: str, reason: str) -> None:
        self.breaker_opens += new == "open"

    def retry_scheduled(
        self, call: Call, delay: float, reason: str, hint_source: str | None
    ) -> None:
        self.retries += 1

    def retry_gave_up(self, call: Call, reason: str) -> None:
        self.gave_up[reason] += 1


def _genguard(api: str, url: str) -> C.Contender:
    return C.Genguard(api, url, C.default_layers, observer=Tally())


FACTORIES: list[tuple[str, Factory]] = [
    ("raw aiohttp", lambda api, url: C.RawAiohttp(api, url)),
    ("genguard", _genguard),
    ("tenacity+aiolimiter+pybreaker", lambda api, url: C.Handwritten(api, url)),
    ("openai SDK", lambda api, url: C.OpenAISDK(url)),
    ("naive", lambda api, url: C.Naive(api, url)),
]


def _pairs() -> list[tuple[str, str, Factory]]:
    return [
        (api, name, make)
        for api in C.APIS
        for name, make in FACTORIES
        if not (name == "openai SDK" and api != "openai")
    ]


async def _calls(
    contender: C.Contender, n: int, rate: float, truth: Callable[[str], bool]
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    misclassified = 0

    async def one(i: int) -> None:
        nonlocal misclassified
        await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
        text = prompt(i)
        start = loop.time()
        reported_block = False
        try:
            async with asyncio.timeout(GUARD):
                await contender.generate(text)
            outcomes["ok"] += 1
        except TimeoutError:
            outcomes["hung"] += 1
        except Exception as error:
            reported_block = contender.is_block(error)
            outcomes["blocked" if reported_block else type(error).__name__] += 1
        latencies.append(loop.time() - start)
        if reported_block != truth(text):
            misclassified += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return {"outcomes": outcomes, "latencies": latencies, "misclassified": misclassified}


async def _profile(
    sim: SimProcess, sims: list[tuple[str, str, int, str]], profile: str, budget: Budget
) -> list[dict[str, Any]]:
    safety = make_profile("safety") if profile == "safety" else None

    def truth(text: str) -> bool:
        return safety is not None and safety.blocked(text) is not None  # type: ignore[attr-defined]

    makers = {(api, name): make for api, name, make in _pairs()}
    contenders = [makers[(api, name)](api, url) for api, name, _, url in sims]
    for c in contenders:
        await c.open()
    try:
        await sim.set_profile([index for _, _, index, _ in sims], profile)
        results = await asyncio.gather(
            *(_calls(c, budget.fault_calls, budget.fault_rate, truth) for c in contenders)
        )
    finally:
        for c in contenders:
            await c.close()
    rows = []
    for (api, name, index, _), result, c in zip(sims, results, contenders, strict=True):
        stats = await sim.stats(index)
        tally = getattr(c, "_observer", None)
        n = budget.fault_calls
        outcomes: Counter[str] = result["outcomes"]
        ok = outcomes["ok"]
        lat = result["latencies"]
        rows.append(
            {
                "api": api,
                "contender": name,
                "profile": profile,
                "calls": n,
                "ok": ok,
                "success": ok / n,
                "upstream_per_call": stats["requests"] / n,
                "upstream_per_success": stats["requests"] / ok if ok else float("nan"),
                "violations": stats["violations"],
                "misclassified": result["misclassified"],
                "truly_blocked": sum(truth(prompt(i)) for i in range(n)),
                "p50_ms": percentile(lat, 0.5) * 1000,
                "p99_ms": percentile(lat, 0.99) * 1000,
                "failures": {k: v for k, v in outcomes.items() if k != "ok"},
                "tally": None
                if not isinstance(tally, Tally)
                else {
                    "pauses": tally.pauses,
                    "paused_s": tally.paused_s,
                    "breaker_opens": tally.breaker_opens,
                    "retries": tally.retries,
                    "gave_up": dict(tally.gave_up),
                },
            }
        )
    return rows


async def _all(budget: Budget) -> list[dict[str, Any]]:
    pairs = _pairs()
    async with SimProcess() as sim:
        started = await sim.start("clean", count=len(pairs), record=True)
        sims = [
            (api, name, index, url)
            for (api, name, _), (index, url) in zip(pairs, started, strict=True)
        ]
        rows: list[dict[str, Any]] = []
        for profile in budget.fault_profiles:
            rows += await _profile(sim, sims, profile, budget)
    return rows


def _failures(row: dict[str, Any]) -> str:
    items = sorted(row["failures"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in items) or "-"


def run(budget: Budget) -> Section:
    rows = asyncio.run(_all(budget))
    tables = []
    for api in C.APIS:
        body = []
        for profile in budget.fault_profiles:
            for row in rows:
                if row["api"] != api or row["profile"] != profile:
                    continue
                body.append(
                    [
                        profile,
                        row["contender"],
                        f"{100 * row['success']:.0f}%",
                        f"{row['upstream_per_call']:.2f}",
                        row["upstream_per_success"],
                        row["violations"],
                        row["misclassified"],
                        row["p50_ms"],
                        row["p99_ms"],
                        _failures(row),
                    ]
                )
        label = "Gemini generateContent" if api == "gemini" else "OpenAI images/generations"
        tables.append(
            table(
                [
                    "profile",
                    "contender",
                    "success",
                    "upstream req/call",
                    "upstream req/success",
                    "Retry-After violations",
                    "misclassified blocks",
                    "p50 ms",
                    "p99 ms",
                    "failures (by error type)",
                ],
                body,
                caption=f"**{label}**, {budget.fault_calls} calls per contender and profile.",
            )
        )
    targets = _targets(rows, budget.fault_profiles)
    blocked = next((r["truly_blocked"] for r in rows if r["profile"] == "safety"), 0)
    notes = [
        f"Under `safety`, the simulator blocks {blocked} of the {budget.fault_calls} prompts, "
        f"so {100 * (budget.fault_calls - blocked) / budget.fault_calls:.0f}% is the best "
        "possible success rate there.",
        "Latency is the time to the call's outcome, success or failure.",
        "raw aiohttp makes one attempt and never retries: it is the floor for success "
        "and amplification, not a contender for the fault targets, which compare genguard "
        "with the clients that retry.",
    ]
    return Section(
        key="faults",
        title="3. Under faults",
        method=(
            f"{budget.fault_calls} calls per contender and profile, arriving at "
            f"{budget.fault_rate:g} calls/s (open loop). Profile options are the simulator's "
            "defaults (flaky: 30% 503/429 with hints up to 1 s; ratelimit: 20/s per key, "
            "burst 1; httpdate: 50% 429/503 with Retry-After as an HTTP-date 1-2 s ahead; "
            "outage: every request 503 for 5 s; slow: 30% of bodies stall 2 s; safety: "
            "about 30% of prompts blocked). genguard is `genguard.demo.default_stack()` at "
            "simulator time scale (5 attempts, 50 ms initial backoff capped at 2 s, breaker "
            "8 failures / 2 s, 100 requests/s with 16 in flight, 5 s attempt timeout, 30 s "
            "deadline); the hand-written stack has the same numbers (5 attempts, "
            "`wait_random_exponential(0.05, max=2)` raised to a numeric Retry-After, "
            "`AsyncLimiter(100, 1)`, `CircuitBreaker(fail_max=8, reset_timeout=2)`, 5 s "
            "timeout); the OpenAI SDK uses its defaults (2 retries, honours retry-after-ms "
            "and Retry-After); the naive client retries anything after 1, 2, 4 s, replaced "
            "by a whole-second Retry-After."
        ),
        tables=tables,
        targets=targets,
        notes=notes,
        data={"rows": rows},
    )


def _targets(rows: list[dict[str, Any]], profiles: tuple[str, ...]) -> list[Target]:
    targets: list[Target] = []
    for api in C.APIS:
        for profile in profiles:
            cell = [r for r in rows if r["api"] == api and r["profile"] == profile]
            gg = next(r for r in cell if r["contender"] == "genguard")
            others = [r for r in cell if r["contender"] not in ("genguard", "raw aiohttp")]
            best = max(others, key=lambda r: r["success"])
            least = min(others, key=lambda r: r["upstream_per_call"])
            success_ok = gg["success"] >= best["success"]
            amp_ok = gg["upstream_per_call"] <= least["upstream_per_call"]
            clean = gg["violations"] == 0 and gg["misclassified"] == 0
            misses = []
            if not success_ok:
                misses.append(
                    f"success {100 * gg['success']:.0f}% < {best['contender']} "
                    f"{100 * best['success']:.0f}%"
                )
            if not amp_ok:
                misses.append(
                    f"amplification {gg['upstream_per_call']:.2f} > {least['contender']} "
                    f"{least['upstream_per_call']:.2f}"
                )
            if gg["violations"]:
                misses.append(f"{gg['violations']} Retry-After violations")
            if gg["misclassified"]:
                misses.append(f"{gg['misclassified']} misclassified blocks")
            targets.append(
                Target(
                    f"{api}/{profile}: success >= others, amplification <= others, "
                    "0 violations, 0 misclassified",
                    f"{100 * gg['success']:.0f}% success, {gg['upstream_per_call']:.2f} req/call, "
                    f"{gg['violations']} violations, {gg['misclassified']} misclassified",
                    success_ok and amp_ok and clean,
                    _why(gg, best, least, success_ok, amp_ok, misses),
                )
            )
    return targets


def _why(
    gg: dict[str, Any],
    best: dict[str, Any],
    least: dict[str, Any],
    success_ok: bool,
    amp_ok: bool,
    misses: list[str],
) -> str:
    """The misses, and the mechanism behind each, from what genguard's layers reported."""
    if not misses:
        return ""
    tally = gg.get("tally") or {}
    reasons: list[str] = []
    if not success_ok:
        failures = gg["failures"]
        if tally.get("pauses"):
            reasons.append(
                f"the rate-limit layer paused the whole key {tally['pauses']} times "
                f"({tally['paused_s']:.0f} s in all) on server 429 hints, holding every "
                "queued call; calls that could not be sent before their 30 s deadline "
                f"failed ({_pretty(failures)})"
            )
        elif failures.get("CircuitOpen"):
            reasons.append(
                f"{failures['CircuitOpen']} calls ran out of attempts while the breaker was "
                f"open (it opened {tally.get('breaker_opens', 0)} times); "
                f"{best['contender']} waits longer in all before giving up"
            )
        elif failures:
            reasons.append(f"genguard failures: {_pretty(failures)}")
    if not amp_ok:
        if least["success"] < gg["success"]:
            reasons.append(
                f"{least['contender']} sent fewer requests by giving up: "
                f"{100 * least['success']:.0f}% success"
            )
        else:
            reasons.append(f"genguard retried {tally.get('retries', 0)} times in all")
    return "; ".join(misses) + (": " + "; ".join(reasons) if reasons else "")


def _pretty(failures: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(failures.items(), key=lambda kv: -kv[1]))
