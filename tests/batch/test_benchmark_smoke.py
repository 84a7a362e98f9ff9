"""The batch benchmark's smallest slice runs and writes a well-formed report (no timings
are asserted: figures belong to the benchmark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import batch

pytestmark = pytest.mark.slow


def test_batch_benchmark_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "batch.md"
    assert (
        batch.main(["--jobs", "60", "--concurrency", "4", "--rounds", "1", "--out", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    for row in ("plain loop", "plain loop + files", "runner (journal, files, manifest)",
                "runner, resumed (all done)", "journal alone (no HTTP)"):  # fmt: skip
        assert f"| {row} |" in text
    assert "commits for 120 writes" in text
    assert str(Path.cwd()) not in text
