"""Charts for the docs site, drawn from the generated report itself.

Every table in docs/benchmarks.md whose first column names things and whose other
columns hold figures becomes a bar chart, so a chart can never show a number the report
does not hold. The Grafana dashboard gets a rendered preview of its panel layout.
``python -m benchmarks.charts`` writes both; the docs build runs it first.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_NUMBER = re.compile(r"^[~≈<>=+]*\s*(-?\d+(?:[.,]\d+)*)")
_SKIP_CELLS = {"", "-", "n/a", "—"}


@dataclass(frozen=True)
class Table:
    heading: str
    caption: str
    headers: list[str]
    rows: list[list[str]]


def number(cell: str) -> float | None:
    """The figure a cell starts with (``0.70x`` -> 0.7, ``99.4%`` -> 99.4), or None."""
    text = cell.strip().strip("*").replace("**", "")
    match = _NUMBER.match(text)
    if match is None:
        return None
    try:
        return float(match.group(1).replace(",", ""))
    except ValueError:
        return None


def tables(markdown: str) -> list[Table]:
    """Every GitHub table in ``markdown`` with the heading and caption above it."""
    found: list[Table] = []
    heading, caption = "", ""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            heading, caption = line.lstrip("#").strip(), ""
        elif (
            line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].strip()) <= set("|-: ")
        ):
            headers = [c.strip() for c in line.strip("|").split("|")]
            rows: list[list[str]] = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            found.append(Table(heading, caption, headers, rows))
            continue
        elif line:
            caption = line
        i += 1
    return found


def chartable(table: Table) -> list[int]:
    """Columns (after the first) whose every non-empty cell is a figure."""
    columns = []
    for col in range(1, len(table.headers)):
        cells = [r[col] for r in table.rows if col < len(r) and r[col] not in _SKIP_CELLS]
        if cells and all(number(c) is not None for c in cells):
            columns.append(col)
    return columns


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "table"


def render_charts(report: Path, out_dir: Path) -> list[tuple[Table, Path]]:
    """A PNG per chartable table of ``report``; returns (table, image) pairs in report order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    drawn: list[tuple[Table, Path]] = []
    for index, table in enumerate(tables(report.read_text(encoding="utf-8"))):
        columns = chartable(table)[:4]
        if not columns or len(table.rows) < 2:
            continue
        labels = [r[0].replace("**", "") for r in table.rows]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) * len(columns) + 1.4))
        height = 0.8 / len(columns)
        for k, col in enumerate(columns):
            values = [
                number(r[col]) if col < len(r) and r[col] not in _SKIP_CELLS else None
                for r in table.rows
            ]
            ys = [i + k * height for i in range(len(labels))]
            ax.barh(
                [y for y, v in zip(ys, values, strict=True) if v is not None],
                [v for v in values if v is not None],
                height=height,
                label=table.headers[col],
            )
        ax.set_yticks([i + height * (len(columns) - 1) / 2 for i in range(len(labels))])
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title((table.heading or "benchmarks")[:80], fontsize=10)
        ax.legend(fontsize=7, loc="best")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{index:02d}-{_slug(table.heading)}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        drawn.append((table, path))
    return drawn


def render_dashboard(dashboard: Path, out: Path) -> int:
    """A preview of the Grafana dashboard: every panel at its grid position with its title
    and first query. Returns the number of panels drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    data = json.loads(dashboard.read_text(encoding="utf-8"))
    panels = [p for p in data.get("panels", []) if isinstance(p.get("gridPos"), dict)]
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    fig, ax = plt.subplots(figsize=(12, max(3.0, bottom * 0.35)))
    for panel in panels:
        g = panel["gridPos"]
        row = panel.get("type") == "row"
        ax.add_patch(
            Rectangle(
                (g["x"], g["y"]),
                g["w"],
                g["h"],
                facecolor="#dde6f0" if row else "#f4f6f8",
                edgecolor="#556",
                linewidth=0.8,
            )
        )
        targets = panel.get("targets") or [{}]
        expr = str(targets[0].get("expr", ""))
        ax.text(
            g["x"] + 0.2,
            g["y"] + 0.5,
            str(panel.get("title", ""))[:48],
            fontsize=7,
            va="top",
            weight="bold",
        )
        if expr and not row:
            ax.text(
                g["x"] + 0.2,
                g["y"] + 1.3,
                expr[:60],
                fontsize=5,
                va="top",
                family="monospace",
                color="#335",
            )
    ax.set_xlim(0, 24)
    ax.set_ylim(bottom, 0)
    ax.axis("off")
    ax.set_title(str(data.get("title", "dashboard")), fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return len(panels)


def write_pages(docs: Path) -> None:
    """Charts of docs/benchmarks.md and the dashboard preview, with the page that shows them."""
    charts = render_charts(docs / "benchmarks.md", docs / "charts")
    panels = render_dashboard(
        docs / "dashboards" / "genguard.json", docs / "charts" / "dashboard.png"
    )
    lines = [
        "# Benchmark charts",
        "",
        "Drawn from the tables of [the generated report](benchmarks.md) when the docs are",
        "built (`python -m benchmarks.charts`); the numbers behind each bar are the report's.",
        "",
    ]
    for table, path in charts:
        title = table.heading or "benchmarks"
        lines += [f"## {title}", ""]
        if table.caption:
            lines += [table.caption, ""]
        lines += [f"![{title}](charts/{path.name})", ""]
    lines += [
        "## The Grafana dashboard",
        "",
        f"The panel layout of `docs/dashboards/genguard.json` ({panels} panels), each with its "
        "title and first PromQL query.",
        "",
        "![dashboard preview](charts/dashboard.png)",
        "",
    ]
    (docs / "benchmark-charts.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    write_pages(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
