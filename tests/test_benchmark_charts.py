"""The docs charts are drawn from the report's own tables: parsing must be exact and total."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.charts import chartable, number, render_dashboard, tables, write_pages
from hypothesis import given
from hypothesis import strategies as st

REPORT = """# Benchmarks

## 2. Throughput

Calls per second at c=64.

| contender | Gemini | OpenAI | note |
|---|---:|---:|---|
| raw aiohttp | 8,215 (1.00x) | 7,100 (1.00x) | baseline |
| genguard | 0.70x | 0.65x | - |

## 3. Targets

| target | status |
|---|---|
| overhead | met |
"""


def test_tables_keep_heading_caption_and_cells() -> None:
    found = tables(REPORT)
    assert [t.heading for t in found] == ["2. Throughput", "3. Targets"]
    first = found[0]
    assert first.caption == "Calls per second at c=64."
    assert first.headers == ["contender", "Gemini", "OpenAI", "note"]
    assert first.rows[1] == ["genguard", "0.70x", "0.65x", "-"]


def test_only_columns_of_figures_are_charted() -> None:
    first, second = tables(REPORT)
    assert chartable(first) == [1, 2]
    assert chartable(second) == []


def test_number_reads_the_leading_figure() -> None:
    assert number("8,215 (1.00x)") == 8215.0
    assert number("0.70x") == 0.70
    assert number("**99.4%**") == 99.4
    assert number("+93.4 µs") == 93.4
    assert number("met") is None


@given(st.text(max_size=300))
def test_number_is_total(cell: str) -> None:
    value = number(cell)
    assert value is None or isinstance(value, float)


@given(st.lists(st.sampled_from(["# h", "| a | b |", "|---|---|", "| x | 1 |", "text", ""])))
def test_tables_never_fail_on_any_markdown(lines: list[str]) -> None:
    for table in tables("\n".join(lines)):
        assert table.headers


def test_pages_are_written_from_the_report(tmp_path: Path) -> None:
    (tmp_path / "benchmarks.md").write_text(REPORT)
    (tmp_path / "dashboards").mkdir()
    dashboard = {
        "title": "genguard",
        "panels": [
            {"type": "row", "title": "Calls", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
            {
                "type": "timeseries",
                "title": "Call rate",
                "gridPos": {"x": 0, "y": 1, "w": 12, "h": 8},
                "targets": [{"expr": "sum(rate(genguard_calls_total[5m]))"}],
            },
        ],
    }
    (tmp_path / "dashboards" / "genguard.json").write_text(json.dumps(dashboard))
    write_pages(tmp_path)
    page = (tmp_path / "benchmark-charts.md").read_text()
    assert "## 2. Throughput" in page and "3. Targets" not in page
    assert (tmp_path / "charts" / "dashboard.png").read_bytes().startswith(b"\x89PNG")
    assert render_dashboard(tmp_path / "dashboards" / "genguard.json", tmp_path / "d.png") == 2
