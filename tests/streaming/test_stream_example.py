"""The streaming example runs as documented and shows every scene."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "streaming.py"


async def test_example_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    module = runpy.run_path(str(EXAMPLE))
    await module["main"](tmp_path)
    out = capsys.readouterr().out
    for api in ("openai", "gemini"):
        assert f"{api}: a draft every 0.2 s" in out
    assert out.count("restarted as attempt 2 after IncompleteStream") == 2
    assert out.count("StreamTimeout(phase='idle', timeout=0.5s)") == 2
    drafts = await asyncio.to_thread(lambda: list(tmp_path.glob("*.png")))
    assert len(drafts) == 14  # 3 + 2 + 2 drafts per API
