"""The README quick start, run as written, against images that take 8-20 s.

The real-key path (the shipped production profile, ``GEMINI_API_KEY``) is pointed at
the simulator through ``GEMINI_BASE_URL``; the simulator's ``realistic`` profile
answers each image after 8-20 s. The loop's clock skips idle time, so the test
takes milliseconds while every timeout sees the full latency.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from virtual_time import LoopClock, VirtualTimeLoop

from genguard.demo import default_stack
from genguard.errors import AttemptTimeout
from genguard.observe import RecordingObserver
from genguard.pipeline import Client
from genguard.profiles import production_client
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator

ROOT = Path(__file__).resolve().parents[2]


def readme_quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def run_virtual(work: Any) -> Any:
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        result = runner.run(work)
        loop = runner.get_loop()
        assert isinstance(loop, VirtualTimeLoop)
        return result, loop.jumped


def test_readme_opens_with_make_demo_and_make_test() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in lines[3:5]]
    assert lines[2] == "```" and commands == ["make demo", "make test"]


def test_quick_start_real_key_path_succeeds_when_images_take_8_to_20_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_quick_start().replace(', simulator="flaky"', "")
    assert 'production_client("gemini")' in code  # the real-key line, as a user would edit it
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(compile(code, "README.md", "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-quickstart-test-key-000000000000")

    async def scenario() -> list[Any]:
        async with Simulator("realistic", seed=11) as sim:
            monkeypatch.setenv("GEMINI_BASE_URL", sim.base_url)
            await namespace["main"]()
            return list(sim.log)

    log, skipped = run_virtual(scenario())
    assert [r.status for r in log] == [200]  # one request, not five timed-out ones
    assert 8.0 <= skipped <= 21
    printed = capsys.readouterr().out
    assert "attempts=1" in printed and "base64" not in printed and len(printed) < 400
    assert (tmp_path / "fox.png").read_bytes().startswith(b"\x89PNG")


def test_quick_start_as_shipped_runs_on_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    exec(compile(readme_quick_start(), "README.md", "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    run_virtual(namespace["main"]())
    assert "GenerationResult(provider='gemini'" in capsys.readouterr().out
    assert (tmp_path / "fox.png").exists()


def test_openai_production_profile_against_8_to_20_s_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> Any:
        async with Simulator("realistic", seed=5) as sim:
            env = {"OPENAI_API_KEY": "sk-test-0000000000000000", "OPENAI_BASE_URL": sim.base_url}
            # the limiter paces on the loop's (virtual) clock, as it does on the real one
            async with production_client("openai", env=env, clock=LoopClock()) as client:
                results = await asyncio.gather(*(client.generate(f"a boat {i}") for i in range(4)))
            return results, sim.log

    (results, log), skipped = run_virtual(scenario())
    assert [r.attempts for r in results] == [1, 1, 1, 1]
    assert len(log) == 4 and 8.0 <= skipped <= 24  # four at once, one second apart


def test_simulator_scale_stack_fails_the_same_backend() -> None:
    """What the shipped profiles fix: 5 s attempts against 8-20 s images time out."""
    observer = RecordingObserver()

    async def scenario() -> Any:
        async with Simulator("realistic", seed=11) as sim:
            provider = GeminiProvider("k", base_url=sim.base_url)
            stack = default_stack()
            async with Client(provider, stack, deadline=60, observer=observer) as client:
                with pytest.raises(AttemptTimeout):
                    await client.generate("a red fox")
            return [r.status for r in sim.log]

    statuses, _ = run_virtual(scenario())
    assert 499 in statuses  # the client gave up mid-generation: possibly billed
    assert len(observer.of("attempt_started")) >= 2
