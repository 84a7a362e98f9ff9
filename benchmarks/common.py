"""What every section shares: run sizes, the report's building blocks, small statistics."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Budget:
    """How big a run is. ``FULL`` is ``make bench``; ``QUICK`` is CI; ``SMOKE`` is the test."""

    name: str
    # section 1: sequential in-process calls per round, rounds (median taken)
    overhead_calls: int
    overhead_rounds: int
    # section 2: seconds measured per cell, rounds per cell (median), concurrencies
    throughput_seconds: float
    throughput_rounds: int
    concurrencies: tuple[int, ...]
    # section 3: calls per contender and profile, arrival rate (calls/s)
    fault_calls: int
    fault_rate: float
    fault_profiles: tuple[str, ...]
    # section 4: calls in flight
    scale_calls: int
    # section 5: seconds per limiter run
    limiter_seconds: float
    telemetry_quick: bool


ALL_PROFILES = ("flaky", "ratelimit", "httpdate", "outage", "slow", "safety")
FULL = Budget(
    "full", 8_000, 5, 1.0, 3, (1, 16, 64, 256), 100, 25.0, ALL_PROFILES, 10_000, 5.0, False
)
QUICK = Budget("quick", 2_000, 3, 0.5, 1, (1, 64), 24, 12.0, ("flaky", "safety"), 1_000, 2.0, True)
SMOKE = Budget("smoke", 200, 1, 0.2, 1, (1, 16), 6, 6.0, ("safety",), 100, 1.0, True)
BUDGETS = {b.name: b for b in (FULL, QUICK, SMOKE)}

#: Prompts with no word any classifier flags; a suffix makes every call's prompt unique.
PROMPTS = (
    "a watercolor fox in a snowy birch forest",
    "a red bicycle leaning on a blue door",
    "isometric pixel art of a tiny lighthouse",
    "a bowl of ramen, studio lighting",
    "a paper crane on a wooden desk",
    "an astronaut reading a newspaper on the moon",
    "a cozy cabin at dusk, warm windows",
    "three green apples on a white plate",
    "a corgi wearing sunglasses at the beach",
    "a stained glass window of a hummingbird",
)


def prompt(i: int) -> str:
    return f"{PROMPTS[i % len(PROMPTS)]}, take v{i}"


@dataclass
class Target:
    """One target of the issue, the figure measured against it, and whether it was met."""

    target: str
    measured: str
    met: bool | None
    why: str = ""


@dataclass
class Section:
    """One section of the report: method, tables, targets, notes, and the raw figures."""

    key: str
    title: str
    method: str
    tables: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """A GitHub markdown table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    align = []
    for col in range(len(headers)):
        numeric = bool(cells) and all(
            _numeric(r[col]) for r in cells if r[col] not in ("", "-", "n/a")
        )
        align.append("---:" if numeric and col > 0 else "---")
    lines = []
    if caption:
        lines += [caption, ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(align) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    cleaned = text.replace(",", "").replace("x", "").replace("%", "").replace("+", "")
    cleaned = cleaned.replace("ms", "").replace("us", "").replace("KB", "").strip()
    try:
        float(cleaned)
    except ValueError:
        return False
    return True


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """Where and when the figures were taken (no host names, no paths)."""
    versions = []
    for dist in (
        "aiohttp",
        "opentelemetry-sdk",
        "tenacity",
        "aiolimiter",
        "pybreaker",
        "openai",
    ):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical ({affinity} usable)",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "packages": ", ".join(versions),
    }


def rss_bytes() -> int:
    """Current resident set size of this process (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def ratio(value: float, base: float) -> float:
    return value / base if base else float("nan")


def fmt_ratio(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}x"
