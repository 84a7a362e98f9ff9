"""Every measured figure a doc quotes comes from a generated benchmark report.

The rule, for docs/**/*.md:

- A *figure* is a number with a unit of measurement: a duration in ns, µs/us or ms, a
  rate (``calls/s``, ``req/s``, ``requests/s``, ``images/s``, ``jobs/s``), a size (KB, MB,
  GB), a percentage, or a ratio (``0.36x``). Seconds are not counted: in these docs they
  are almost always settings.
- The *reports* are the files under docs/ that a benchmark writes (found from the
  ``--out docs/....md`` arguments in benchmarks/ and the Makefile): today
  docs/benchmarks.md and docs/batch-benchmark.md. Their own figures are not checked here;
  the benchmark that writes them is their source.
- In every other doc, each figure in prose or in a table must match a figure of a report
  of the same kind (a duration, a rate, a size, a percentage, a ratio), written with its
  unit (``531 µs``) or in a table column whose header names the unit (a cell ``| 531 |``
  under ``| µs/call |``), once the report's figure is converted to the doc's unit and
  rounded to the doc's decimals: ``0.35 ms`` matches ``347 µs``, ``2.1x`` matches
  ``2.11x``. Quote the report and link its section; when the report changes, the doc
  must follow (or stop quoting).
- Values that are not measurements (defaults, limits, parameters, examples) go in inline
  code or code blocks, where they are not checked: ``a `20 MB` limit``.

A failure lists each figure with its doc and line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
UNITS = r"ns|µs|us|ms|calls/s|req/s|requests/s|images/s|jobs/s|KB|MB|GB|%|x\b"
FIGURE = re.compile(rf"(?<![\w.\-/])~?(\d[\d,]*(?:\.\d+)?)\s?({UNITS})")
HEADER_UNITS = r"ns|µs|us|ms|/s|KB|MB|GB|%"
HEADER_UNIT = re.compile(rf"(?<![A-Za-z])({HEADER_UNITS})(?![A-Za-z])")
NUMBER = re.compile(r"^[+~-]?(\d[\d,]*(?:\.\d+)?)[x%]?$")
FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)


def reports() -> list[Path]:
    """The docs a benchmark writes: every ``--out docs/X.md`` in benchmarks/ or the Makefile."""
    sources = [*sorted((ROOT / "benchmarks").glob("*.py")), ROOT / "Makefile"]
    names = set()
    for source in sources:
        names.update(re.findall(r"docs/([\w.-]+\.md)", source.read_text()))
    found = [DOCS / name for name in sorted(names) if (DOCS / name).exists()]
    return [p for p in found if "--out" in _mentions(p.name, sources)]


def _mentions(name: str, sources: list[Path]) -> str:
    return "\n".join(
        line for s in sources for line in s.read_text().splitlines() if f"docs/{name}" in line
    )


#: Each unit as (kind, its size in the kind's base unit).
SCALE: dict[str, tuple[str, float]] = {
    "ns": ("time", 1e-3), "µs": ("time", 1.0), "us": ("time", 1.0), "ms": ("time", 1e3),
    "KB": ("size", 1.0), "MB": ("size", 1e3), "GB": ("size", 1e6),
    "%": ("%", 1.0), "x": ("x", 1.0),
}  # fmt: skip


def unit_kind(unit: str) -> str:
    """One name per kind of unit: durations, rates per second, sizes, %, ratios."""
    return "rate" if unit.endswith("/s") else SCALE[unit][0]


def scale(unit: str) -> float:
    return 1.0 if unit.endswith("/s") else SCALE[unit][1]


def matches(number: str, unit: str, known: set[tuple[float, str]]) -> bool:
    """Whether a report figure of the same kind, in ``unit`` and rounded to the doc's
    decimals, is the doc's number."""
    decimals = len(number.split(".")[1]) if "." in number else 0
    value = float(number.replace(",", ""))
    return any(
        k == unit_kind(unit) and round(v / scale(unit), decimals) == round(value, decimals)
        for v, k in known
    )


def report_figures(text: str) -> set[tuple[float, str]]:
    """(value in the kind's base unit, kind) for every figure a report prints."""
    found = {(float(n.replace(",", "")) * scale(u), unit_kind(u)) for n, u in FIGURE.findall(text)}
    header: list[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = cells
            continue
        for title, cell in zip(header, cells, strict=False):
            units = HEADER_UNIT.findall(title)
            for part in re.split(r"\s*/\s*|\s+", cell):
                m = NUMBER.match(part)
                if m:
                    value = float(m.group(1).replace(",", ""))
                    kinds = [*units, *(u for u in "x%" if part.endswith(u))]
                    found.update((value * scale(u), unit_kind(u)) for u in kinds)
    return found


def figures(text: str) -> list[tuple[int, str, str]]:
    """(line, number, the figure as written) for every figure outside code and comments."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731 (keeps line numbers)
    text = COMMENT.sub(blank, FENCED.sub(blank, text))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for m in FIGURE.finditer(INLINE.sub(" ", line)):
            found.append((number, m.group(1), m.group(0).strip("~ ")))
    return found


def test_the_reports_are_found() -> None:
    names = {p.name for p in reports()}
    assert "benchmarks.md" in names, names


def test_every_figure_in_the_docs_is_in_a_generated_report() -> None:
    generated = reports()
    known: set[tuple[float, str]] = set()
    for report in generated:
        known |= report_figures(report.read_text())
    missing = []
    for doc in sorted(DOCS.rglob("*.md")):
        if doc in generated:
            continue
        for line, number, written in figures(doc.read_text()):
            unit = FIGURE.match(written).group(2)  # type: ignore[union-attr]
            if not matches(number, unit, known):
                missing.append(f"{doc.relative_to(ROOT)}:{line}: {written}")
    assert not missing, (
        "figures no generated report contains (quote a report, or put a setting in "
        "`inline code`; see this test's docstring):\n" + "\n".join(missing)
    )


def test_a_report_figure_counts_with_its_unit_from_prose_or_the_column_header() -> None:
    report = "p50 2.5 ms\n\n| case | µs/call | lag p50 / p99 (ms) | share |\n|---|---:|---:|---:|\n"
    report += "| redis | 531 | 3.46 / 7.36 | 63% |\n"
    known = report_figures(report)
    assert known == {(2500.0, "time"), (531.0, "time"), (3460.0, "time"), (7360.0, "time"),
                     (63.0, "%")}  # fmt: skip
    assert matches("0.53", "ms", known) and matches("2.5", "ms", known)
    assert matches("3.5", "ms", known) and not matches("3.4", "ms", known)
    assert not matches("531", "ms", known) and not matches("63", "x", known)


def test_the_rule_sees_figures_and_skips_code() -> None:
    text = "took 0.36x and 531 µs, p99 2.5 ms\n`20 MB` limit\n```\n99% in code\n```\n"
    assert [(n, w) for _, n, w in figures(text)] == [
        ("0.36", "0.36x"),
        ("531", "531 µs"),
        ("2.5", "2.5 ms"),
    ]
