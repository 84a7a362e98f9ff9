"""``genguard check-stack``: a sound stack passes every fault, a bad one fails with reasons."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from genguard.testing import check_stack
from genguard.testing.conformance import render_table
from genguard.testing.faults import DEFAULT_FAULTS, select_faults

ROOT = Path(__file__).resolve().parents[2]

# The breaker stays open 60 s after 2 failures, but every call must end within 6 s:
# a 3 s outage therefore fails calls that a shorter break would have served.
BAD_STACK = """
version: 1
profiles:
  default:
    provider: {type: gemini, model: gemini-2.5-flash-image, api_key: "${GEMINI_API_KEY}"}
    deadline: 6s
    layers:
      - retry: {attempts: 4, backoff: {initial: 100ms, max: 1s}}
      - circuit_breaker: {fail_max: 2, reset_timeout: 60s}
      - timeout: {attempt: 5s}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genguard", "check-stack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


async def test_a_breaker_open_longer_than_the_deadline_fails_the_outage(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_STACK)
    verdicts = await check_stack(
        policy, faults=select_faults("clean,outage"), calls=12, concurrency=4, env={}
    )
    by_name = {v.fault.name: v for v in verdicts}
    assert by_name["clean"].passed, by_name["clean"].failures
    outage = by_name["outage"]
    assert not outage.passed
    assert any(f.startswith("success") and "CircuitOpen" in f for f in outage.failures)
    table = render_table(verdicts)
    assert "outage" in table and "FAIL" in table and "PASS" in table


def test_cli_exit_code_and_table_for_a_bad_stack(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_STACK)
    done = _cli(str(policy), "--faults", "outage", "--calls", "8", "--concurrency", "4")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    row = next(line for line in lines if line.startswith("outage "))
    assert row.rstrip().endswith("FAIL")
    assert any(line.startswith("outage: success") for line in lines)


def test_cli_json_verdicts(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(BAD_STACK)
    done = _cli(str(policy), "--faults", "clean", "--calls", "4", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] is True
    assert [f["fault"] for f in data["faults"]] == ["clean"]
    assert data["faults"][0]["amplification"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "no such policy file"),
        (["examples/production.yaml", "--faults", "earthquake"], "unknown fault"),
        (["examples/production.yaml", "--calls", "0"], "must be >= 1"),
    ],
)
def test_cli_usage_errors(args: list[str], message: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


SHIPPED = [
    (ROOT / "src" / "genguard" / "profiles" / "production.yaml", "gemini"),
    (ROOT / "src" / "genguard" / "profiles" / "production.yaml", "openai"),
    (ROOT / "examples" / "production.yaml", "default"),
]


@pytest.mark.slow
async def test_the_shipped_production_profiles_pass_every_fault() -> None:
    """Every fault of the catalogue, for every shipped production stack, side by side."""
    results = await asyncio.gather(
        *(check_stack(path, name, calls=12, concurrency=6, env={}) for path, name in SHIPPED)
    )
    for (path, name), verdicts in zip(SHIPPED, results, strict=True):
        assert [v.fault.name for v in verdicts] == [f.name for f in DEFAULT_FAULTS]
        failed = {v.fault.name: v.failures for v in verdicts if not v.passed}
        assert not failed, f"{path.name} profile {name}:\n{render_table(verdicts)}"
        safety = next(v for v in verdicts if v.fault.name == "safety")
        assert safety.report.amplification <= 1.0
