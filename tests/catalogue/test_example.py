"""examples/model_catalogue.py runs on the simulator and shows what the docs say it does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "model_catalogue.py"


def test_the_catalogue_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=True
    )
    out = done.stdout
    assert "refused before sending: aspect_ratio='7:3'" in out
    assert "requests the simulator saw: 0" in out
    assert "served by openai/gpt-image-2; OpenAI got size=2048x880" in out
    assert "aspect_ratio: 21:9 -> None" in out
    retired = [line for line in done.stderr.splitlines() if "was retired" in line]
    assert len(retired) == 1 and "gemini-3.1-flash-image" in retired[0]
