"""Run the benchmark suite and write the report: ``python -m benchmarks.run [--quick]``.

``--only SECTION`` (repeatable) runs some sections; ``--out`` is the markdown
report (``docs/benchmarks.md`` for ``make bench``); ``--json PATH`` also writes
every raw figure. ``--update`` with ``--only`` reruns those sections and keeps
every other section (its tables and targets) from the report already at ``--out``;
the report then says which sections came from which run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import BUDGETS, FULL, QUICK, Budget, Section, Target, machine, table

__all__ = ["SECTIONS", "Kept", "kept_sections", "machine", "main", "render", "run_suite"]

Runner = Callable[[Budget], Section]


def _runner(module: str) -> Runner:
    def run(budget: Budget) -> Section:
        import importlib

        result: Section = importlib.import_module(f"benchmarks.{module}").run(budget)
        return result

    return run


#: Section key -> runner, in report order.
SECTIONS: dict[str, Runner] = {
    "overhead": _runner("overhead"),
    "throughput": _runner("throughput"),
    "faults": _runner("faults"),
    "scale": _runner("scale"),
    "limiter": _runner("limiter"),
    "redis": _runner("shared_state"),
}


class _DroppedSpans(logging.Handler):
    """Counts the OpenTelemetry SDK's "Queue full, dropping Span" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "dropping span" in record.getMessage().lower():
            self.count += 1


def run_suite(keys: Sequence[str], budget: Budget, log: Callable[[str], None]) -> list[Section]:
    sections = []
    dropped = _DroppedSpans()
    logging.getLogger().addHandler(dropped)
    for key in keys:
        log(f"[bench] {key} ({budget.name}) ...")
        started = time.perf_counter()
        dropped.count = 0
        try:
            section = SECTIONS[key](budget)
        finally:
            section_drops = dropped.count
        if section_drops:
            section.notes.append(
                f"The BatchSpanProcessor reported a full queue {section_drops} times in this "
                "section (default queue of 2,048 spans): its export thread did not keep up "
                "with back-to-back calls, so dropped spans' export work is missing from the "
                "telemetry-on figures, which understate that cost."
            )
        section.seconds = time.perf_counter() - started
        log(f"[bench] {key} done in {section.seconds:.0f} s")
        sections.append(section)
    return sections


@dataclass
class Kept:
    """A section carried over from an earlier report: its markdown as written, its targets."""

    key: str
    title: str
    text: str
    targets: list[Target] = field(default_factory=list)
    date: str = ""


_HEADING = re.compile(r"^## (\d+)\. ", re.M)


def kept_sections(report: str) -> dict[str, Kept]:
    """The numbered sections of an earlier ``report``, by section key, with their targets."""
    date = re.search(r"^\| date \| ([^|]*) \|", report, re.M)
    when = date.group(1).strip() if date else "an earlier run"
    # Sections that report itself kept from earlier runs keep the date of their own run.
    earlier = re.search(r"^\| sections from earlier runs \| ([^|]*) \|", report, re.M)
    dates = {
        m.group(1): m.group(2)
        for m in re.finditer(r"\d+\. (\w+) \(([^)]*)\)", earlier.group(1) if earlier else "")
    }
    numbers = {str(i): key for i, key in enumerate(SECTIONS, start=1)}
    starts = list(_HEADING.finditer(report))
    end_of_last = report.find("\n## Closing note")
    out: dict[str, Kept] = {}
    for index, match in enumerate(starts):
        stop = starts[index + 1].start() if index + 1 < len(starts) else end_of_last
        key = numbers.get(match.group(1))
        if key is None:
            continue
        block = report[match.start() : stop if stop > 0 else len(report)].rstrip()
        title = block.splitlines()[0][3:]
        out[key] = Kept(key, title, block, [], dates.get(key, when))
    targets = re.search(r"^## Targets\n\n(.*?)\n\n", report, re.M | re.S)
    for line in targets.group(1).splitlines()[2:] if targets else []:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 5 or numbers.get(cells[0]) not in out:
            continue
        met = None if cells[3] == "n/a" else cells[3] == "yes"
        why = "" if cells[4] == "-" else cells[4]
        out[numbers[cells[0]]].targets.append(Target(cells[1], cells[2], met, why))
    return out


def render(
    sections: Sequence[Section | Kept], budget: Budget, info: dict[str, str], total: float
) -> str:
    """The markdown report (``Kept`` sections are copied as they were written)."""
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m benchmarks.run`); do not edit by hand. "
        "Every performance claim about genguard is made from these figures. The code is "
        "in `benchmarks/`; the clients compared are in `benchmarks/contenders.py`.",
        "",
        "## Machine and run",
        "",
        table(
            ["", ""],
            [
                ["date", info["date"]],
                ["CPU", info["cpu"]],
                ["cores", info["cores"]],
                ["Python", info["python"]],
                ["OS", info["os"]],
                ["packages", info["packages"]],
                ["load average (1 min) before / after", info.get("load", "n/a")],
                ["run", f"{budget.name}, {total:.0f} s in all"],
                *([["sections from earlier runs", info["kept"]]] if info.get("kept") else []),
            ],
        ),
        "",
        "The simulator runs in a separate process on the same machine (both share its "
        "cores), so client CPU figures are the client's own. The load average shows what "
        "else was running; on a shared machine figures move by a few percent between runs.",
        "",
    ]
    targets = [(s, t) for s in sections for t in s.targets]
    if targets:
        out += [
            "## Targets",
            "",
            table(
                ["section", "target", "measured", "met", "why missed"],
                [
                    [
                        s.title.split(" ", 1)[0].rstrip("."),
                        t.target,
                        t.measured,
                        "n/a" if t.met is None else ("yes" if t.met else "**no**"),
                        t.why or "-",
                    ]
                    for s, t in targets
                ],
            ),
            "",
        ]
        missed = [t for _, t in targets if t.met is False]
        out.append(
            f"{len(targets) - len(missed)} of {len(targets)} targets met on this run."
            if missed
            else f"All {len(targets)} targets met on this run."
        )
        out.append("")
    out += [
        "## How to run",
        "",
        "- `make bench`: every section at full size (under 10 minutes on 2 cores); "
        "writes this page.",
        "- `make bench-quick`: a CI-sized run (about a minute, fewer calls, two fault "
        "profiles) to keep the suite working; its figures are not for quoting.",
        "- `python -m benchmarks.run --only faults --out faults.md`: one section "
        f"(sections: {', '.join(SECTIONS)}); `--json PATH` also writes every raw figure.",
        "",
    ]
    for s in sections:
        if isinstance(s, Kept):
            out += [s.text, ""]
            continue
        out += [f"## {s.title}", "", s.method, ""]
        for t in s.tables:
            out += [t, ""]
        for note in s.notes:
            out += [f"- {note}"]
        if s.notes:
            out.append("")
        out += [f"_Section time: {s.seconds:.0f} s._", ""]
    failed = [target for _, target in targets if target.met is False]
    out += ["## Closing note", ""]
    if not targets:
        out.append("No section with targets ran.")
    elif not failed:
        out.append(f"Every target measured on this run was met ({len(targets)}).")
    else:
        out.append(
            f"{len(targets) - len(failed)} of {len(targets)} targets met. Missed, with the "
            "reason the figures give:"
        )
        out.append("")
        out += [f"- **{f.target}**: {f.measured}. {f.why}" for f in failed]
    return "\n".join(out).rstrip() + "\n"


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def main(argv: Sequence[str] | None = None, *, budget: Budget | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-sized run (about a minute)")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown report path")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="SECTION",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument("--json", help="also write every raw figure to this JSON file")
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --only: keep the other sections of the report at --out as they are",
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if budget is None:
        budget = BUDGETS[args.budget] if args.budget else QUICK if args.quick else FULL
    keys = [k for k in SECTIONS if not args.only or k in args.only]
    info = machine()
    load_before = _load()
    started = time.perf_counter()
    sections = run_suite(keys, budget, lambda line: print(line, file=sys.stderr, flush=True))
    total = time.perf_counter() - started
    info["load"] = f"{load_before} / {_load()}"
    merged: list[Section | Kept] = list(sections)
    if args.update and args.only and os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            earlier = kept_sections(f.read())
        fresh = {s.key: s for s in sections}
        merged = [
            fresh[k] if k in fresh else earlier[k] for k in SECTIONS if k in fresh or k in earlier
        ]
        kept = [earlier[k] for k in SECTIONS if k not in fresh and k in earlier]
        if kept:
            info["kept"] = "; ".join(f"{k.title.split(' ', 1)[0]} {k.key} ({k.date})" for k in kept)
    report = render(merged, budget, info, total)
    directory = os.path.dirname(args.out)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(report)
    if args.json:
        raw: dict[str, Any] = {
            "machine": info,
            "budget": budget.name,
            "seconds": total,
            "sections": {s.key: s.data for s in sections},
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=1, default=str)
    print(f"[bench] wrote {args.out} in {total:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
