"""The everyday examples run as a user would run them: no key, the simulator behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("GENGUARD_CONFIG", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_everyday_example() -> None:
    done = _run("everyday.py")
    assert done.returncode == 0, done.stderr
    assert "GenerationResult(provider='gemini'" in done.stdout
    assert "fox.png" in done.stdout
    assert "refused before sending: gemini: unknown option 'qualty'" in done.stdout


def test_sdk_clients_example_sends_one_request_per_attempt() -> None:
    done = _run("sdk_clients.py")
    assert done.returncode == 0, done.stderr
    for api in ("openai", "gemini"):
        (line,) = [
            x
            for x in done.stdout.splitlines()
            if x.startswith(f"{api}: ") and "attempts" in x and "requests" in x
        ]
        attempts = int(line.split()[1])
        requests = int(line.split(", ")[1].split()[0])
        assert attempts == requests >= 4
