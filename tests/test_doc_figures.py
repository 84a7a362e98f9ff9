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
- In every other doc, each figure in prose or in a table must appear in a report as the
  same number with the same kind of unit: written with it (``531 µs``), or in a table
  column whose header names the unit (a cell ``| 531 |`` under ``| µs/call |``). ``us``
  and ``µs`` are one unit, and every ``.../s`` rate is one. Quote the report and link its
  section; when the report changes, the doc must follow (or stop quoting).
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


def unit_kind(unit: str) -> str:
    """One name per kind of unit: µs and us are one, every rate per second is one."""
    if unit == "us":
        return "µs"
    if unit.endswith("/s"):
        return "/s"
    return unit


def report_figures(text: str) -> set[tuple[str, str]]:
    """(number, unit kind) for every figure a report prints, in prose or in its tables."""
    found = {(n, unit_kind(u)) for n, u in FIGURE.findall(text)}
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
                    kinds = [unit_kind(u) for u in units]
                    kinds += ["x"] if part.endswith("x") else []
                    kinds += ["%"] if part.endswith("%") else []
                    found.update((m.group(1), k) for k in kinds)
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
    known: set[tuple[str, str]] = set()
    for report in generated:
        known |= report_figures(report.read_text())
    missing = []
    for doc in sorted(DOCS.rglob("*.md")):
        if doc in generated:
            continue
        for line, number, written in figures(doc.read_text()):
            unit = unit_kind(FIGURE.match(written).group(2))  # type: ignore[union-attr]
            if (number, unit) not in known:
                missing.append(f"{doc.relative_to(ROOT)}:{line}: {written}")
    assert not missing, (
        "figures no generated report contains (quote a report, or put a setting in "
        "`inline code`; see this test's docstring):\n" + "\n".join(missing)
    )


def test_a_report_figure_counts_with_its_unit_from_prose_or_the_column_header() -> None:
    report = "p50 2.5 ms\n\n| case | µs/call | lag p50 / p99 (ms) | share |\n|---|---:|---:|---:|\n"
    report += "| redis | 531 | 3.46 / 7.36 | 63% |\n"
    assert report_figures(report) == {
        ("2.5", "ms"),
        ("531", "µs"),
        ("3.46", "ms"),
        ("7.36", "ms"),
        ("63", "%"),
    }


def test_the_rule_sees_figures_and_skips_code() -> None:
    text = "took 0.36x and 531 µs, p99 2.5 ms\n`20 MB` limit\n```\n99% in code\n```\n"
    assert [(n, w) for _, n, w in figures(text)] == [
        ("0.36", "0.36x"),
        ("531", "531 µs"),
        ("2.5", "2.5 ms"),
    ]
