"""Every script in examples/ runs to completion against the embedded simulator.

Each runs in its own process, as a reader would run it (``python examples/x.py``), with
a hang guard rather than a time bound; ``redis_replicas.py`` gets a redis-server of its
own on a free port. A new example is picked up by the glob, and must be listed in
``EXPECTED`` with fragments of its output that show it did its job.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from redis_server import RedisServer

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: Real seconds after which a script is reported as hung (not a speed bound).
HANG_GUARD = 180.0
#: A fragment of each script's output that shows it did what it is there to show.
EXPECTED: dict[str, tuple[str, ...]] = {
    "batch_jobs.py": ("second run:", "images on disk: 200"),
    "config_stacks.py": ("retries scheduled:",),
    "conversation.py": ("resumed after 4 turns: 1 image(s)",),
    "error_facts.py": (
        "openai: caught RateLimited (status 429",
        "five 503s, the breaker is closed",
        "served by openai",
        "requests the simulator saw: 0",
    ),
    "everyday.py": ("saved ", "refused before sending: gemini: unknown option 'qualty'"),
    "cost_budget.py": ("possibly-billed duplicates:", "refused (", "simulator's bill:"),
    "hostile_input.py": ("the other host got []", "4. DeadlineExceeded"),
    "fallback_gemini_openai.py": ("half_open -> closed (probes_succeeded)",),
    "model_catalogue.py": ("requests the simulator saw: 0", "OpenAI got size=2048x880"),
    "providers_direct.py": ("openai: edit ok",),
    "rate_limit.py": ("20/s limiter:", "limiter waits"),
    "redis_replicas.py": ("3 replicas, one quota",),
    "redis_outage_metrics.py": (
        "{component=rate_limit, action=local} = 1",
        "{component=circuit_breaker, action=local} = 1",
    ),
    "retry_policy.py": ("4. a blocked prompt is never retried",),
    "sdk_clients.py": ("openai: ", "gemini: ", "requests seen: one request per attempt"),
    "safety_classifier.py": ("3. moderation endpoint down",),
    "simulator_faults.py": ("connection reset", "IMAGE_SAFETY", "retry hints ignored: 0"),
    "streaming.py": ("restarted as attempt 2 after IncompleteStream", "StreamTimeout("),
    "telemetry_otel.py": ("from /metrics:",),
    "testing_kit.py": ("verdict", "replayed: RateLimited"),
    "whole_stack_faults.py": ("learned rate:", "QuotaExhausted"),
}


async def run_example(script: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
        cwd=EXAMPLES.parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
async def test_example_runs(script: Path) -> None:
    assert script.name in EXPECTED, f"add {script.name} to EXPECTED"
    if script.name == "redis_replicas.py":
        with RedisServer() as redis:
            code, out, err = await run_example(script, {"REDIS_URL": redis.url})
    else:
        code, out, err = await run_example(script, {})
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert out.strip(), "the example printed nothing"
    for fragment in EXPECTED[script.name]:
        assert fragment in out, out[-3000:]
