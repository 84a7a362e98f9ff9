"""The benchmark suite imports and its smallest slice writes a well-formed report.

Never asserts a time: figures belong to ``make bench``, not to the test suite.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from benchmarks import run
from benchmarks.common import SMOKE, Section, table

pytestmark = pytest.mark.slow


def test_every_section_module_imports_and_has_run() -> None:
    assert list(run.SECTIONS) == ["overhead", "throughput", "faults", "scale", "limiter", "redis"]
    for module in ("overhead", "throughput", "faults", "scale", "limiter", "shared_state"):
        assert callable(importlib.import_module(f"benchmarks.{module}").run)


def test_overhead_slice_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    assert run.main(["--only", "overhead", "--out", str(out)], budget=SMOKE) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n")
    for heading in ("## Machine and run", "## Targets", "## 1. Overhead"):
        assert heading in text
    for field in ("| date |", "| CPU |", "| cores |", "| Python |"):
        assert field in text
    # one row per case, and both machinery targets judged yes or no
    for case in ("provider.send alone", "Client, no layers", "full stack, telemetry off"):
        assert f"| {case} |" in text
    assert "machinery <= 10 us CPU per call, telemetry off" in text
    assert "machinery <= 45 us CPU per call, telemetry on" in text
    assert "targets met on this run" in text
    # nothing of this machine's layout leaks into the report
    assert str(Path.cwd()) not in text


def test_render_lists_missed_targets_with_their_reason() -> None:
    from benchmarks.common import Target

    section = Section("x", "9. Example", "method text", tables=[table(["a", "b"], [["r", 1.5]])])
    section.targets = [Target("t1", "1", True), Target("t2", "2", False, "because")]
    text = run.render([section], SMOKE, {k: "v" for k in run.machine()}, 1.0)
    assert "| 9 | t2 | 2 | **no** | because |" in text
    assert "1 of 2 targets met on this run." in text
    assert "| r | 1.50 |" in text
