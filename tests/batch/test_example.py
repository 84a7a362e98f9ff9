"""The documented batch example runs end to end against the embedded simulator."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "batch_jobs.py"


async def test_batch_example_runs(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "first run stopped after 50 outcomes" in text
    assert "images on disk: 200" in text
    assert len(list((tmp_path / "out" / "images").glob("*.png"))) == 200
