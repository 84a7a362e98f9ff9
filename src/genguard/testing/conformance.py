"""``genguard check-stack``: run a policy file's stack against the fault catalogue.

Each fault gets its own simulator and its own client built from the file, with three
changes said in the output: every provider points at the simulator with a stand-in
key, shared state is local memory (a check must never touch production Redis), and
metrics servers and log exports are off. Everything else (layers, deadlines, rate
limits, fallback targets) runs exactly as configured, in real time, faults side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ContentBlocked
from .assertions import every_block_typed
from .faults import DEFAULT_FAULTS, Fault
from .run import RunReport, run_calls

#: Environment variable the rewritten providers read their stand-in key from.
CHECK_KEY_VAR = "GENGUARD_CHECK_STACK_KEY"
#: Real seconds a call may end after its deadline before the check calls it late.
DEADLINE_TOLERANCE = 0.25
#: Providers that speak to a base URL the simulator can stand in for.
SIMULATED_TYPES = frozenset({"gemini", "openai", "imagen"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """How the stack did under one fault, and every reason it failed (empty: it passed)."""

    fault: Fault
    report: RunReport
    success: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "fault": self.fault.name,
            "description": self.fault.description,
            "calls": report.calls,
            "success": round(self.success, 4),
            "amplification": round(report.amplification, 4),
            "max_overshoot_s": round(report.max_overshoot, 3),
            "retry_after_violations": report.retry_after_violations,
            "cost": round(report.cost, 6),
            "errors": dict(report.errors_by_type()),
            "passed": self.passed,
            "failures": list(self.failures),
        }


def _for_simulator(raw: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """One profile as written, pointed at the simulator, with memory state and no exports."""
    profile = dict(raw)
    provider = profile.get("provider")
    if isinstance(provider, Mapping) and provider.get("type", "gemini") in SIMULATED_TYPES:
        profile["provider"] = {
            **provider,
            "base_url": base_url,
            "api_key": "${" + CHECK_KEY_VAR + "}",
        }
    if "state" in profile:
        profile["state"] = {"backend": "memory"}
    telemetry = profile.get("telemetry")
    if isinstance(telemetry, Mapping):
        profile["telemetry"] = {
            k: v for k, v in telemetry.items() if k not in ("prometheus", "logs")
        }
    return profile


def judge(fault: Fault, report: RunReport, sim: Any) -> Verdict:
    """Compare one run with the fault's bar."""
    failures: list[str] = []
    outcomes = report.outcomes
    judged = [o for o in outcomes if not (fault.blocks and isinstance(o.error, ContentBlocked))]
    success = sum(1 for o in judged if o.ok) / len(judged) if judged else 1.0
    if success < fault.min_success:
        counts: dict[str, int] = {}
        for o in judged:
            if o.error is not None:
                counts[type(o.error).__name__] = counts.get(type(o.error).__name__, 0) + 1
        detail = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        failures.append(f"success {success:.0%} < {fault.min_success:.0%} ({detail})")
    if report.amplification > fault.max_amplification:
        failures.append(f"amplification {report.amplification:.2f} > {fault.max_amplification:.2f}")
    if report.retry_after_violations:
        failures.append(f"{report.retry_after_violations} Retry-After violation(s)")
    if report.max_overshoot > DEADLINE_TOLERANCE:
        failures.append(f"a call outlived its deadline by {report.max_overshoot:.2f}s")
    try:
        every_block_typed(report, sim)
    except AssertionError as exc:
        failures.append(str(exc))
    return Verdict(fault, report, success, tuple(failures))


async def check_fault(
    path: str | os.PathLike[str],
    profile: str | None,
    fault: Fault,
    *,
    calls: int,
    concurrency: int,
    seed: int = 0,
    env: Mapping[str, str] | None = None,
) -> Verdict:
    """Run the stack of ``profile`` once under ``fault``."""
    from ..config.loader import load_config, resolve_profile
    from ..factory import DEFAULT_PROFILE, build_client
    from ..sim import Simulator

    environ = {**(os.environ if env is None else env), CHECK_KEY_VAR: "check-stack-key"}
    config = load_config(Path(path), env=environ)
    name = profile or DEFAULT_PROFILE
    async with Simulator(fault.profile, seed=seed, **dict(fault.options)) as sim:
        rewritten = {
            key: _for_simulator(raw, sim.base_url) if isinstance(raw, Mapping) else raw
            for key, raw in config.profiles.items()
        }
        config = replace(config, profiles=rewritten, env=environ)
        resolved = resolve_profile(config, name, env=environ)
        client = build_client(resolved, config=config, env=environ)
        async with client:
            report = await run_calls(client, calls=calls, concurrency=concurrency, sim=sim)
        return judge(fault, report, sim)


async def check_stack(
    path: str | os.PathLike[str],
    profile: str | None = None,
    *,
    faults: Sequence[Fault] = DEFAULT_FAULTS,
    calls: int = 24,
    concurrency: int = 8,
    env: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Every fault's verdict, faults run side by side (each with its own simulator)."""
    if calls < 1 or concurrency < 1:
        raise ValueError("calls and concurrency must be >= 1")
    return list(
        await asyncio.gather(
            *(
                check_fault(path, profile, f, calls=calls, concurrency=concurrency, env=env)
                for f in faults
            )
        )
    )


def render_table(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a fixed-width table, failures spelled out under it."""
    header = (
        "fault",
        "calls",
        "success",
        "blocked",
        "ampl.",
        "overshoot",
        "violations",
        "cost",
        "verdict",
    )
    rows = [header]
    for v in verdicts:
        r = v.report
        has_deadline = any(o.deadline is not None for o in r.outcomes)
        overshoot = f"{max(0.0, r.max_overshoot):.2f}s" if has_deadline else "no deadline"
        blocked = sum(1 for o in r.outcomes if isinstance(o.error, ContentBlocked))
        rows.append(
            (
                v.fault.name,
                str(r.calls),
                f"{v.success:.0%}",
                str(blocked),
                f"{r.amplification:.2f}",
                overshoot,
                str(r.retry_after_violations),
                f"{r.cost:.4f}",
                "PASS" if v.passed else "FAIL",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for v in verdicts:
        for failure in v.failures:
            lines.append(f"{v.fault.name}: {failure}")
    return "\n".join(lines)


def verdicts_json(verdicts: Sequence[Verdict]) -> str:
    return json.dumps(
        {"passed": all(v.passed for v in verdicts), "faults": [v.as_dict() for v in verdicts]},
        indent=2,
    )


__all__ = [
    "CHECK_KEY_VAR",
    "DEADLINE_TOLERANCE",
    "Verdict",
    "check_fault",
    "check_stack",
    "judge",
    "render_table",
    "verdicts_json",
]
