"""Two worker processes split one job file with ``--shard`` and share one Redis quota:
together they finish it, never exceed the quota, and never do a job twice, all as
counted by the simulator's own log.

The quota is checked from below: two workers sharing 30/s cannot finish 120 jobs in less
than (120 - 30) / 30 = 3 s, whereas two separate 30/s quotas would take half that. A busy
machine only makes the run slower, so the check cannot fail for want of CPU (a per-window
peak count can: late deliveries bunch up into one window)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from genguard.batch import read_jobs, shard_of
from genguard.sim import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
JOBS = 120
RATE = 30
#: The shortest time one shared quota allows for the whole file (the first second's
#: burst of RATE admitted at once), less 10% for the clocks of two processes.
MIN_SPAN = (JOBS - RATE) / RATE * 0.9


async def test_two_shards_share_one_quota_and_do_every_job_once(
    tmp_path: Path, redis_url: str
) -> None:
    jobs_file = tmp_path / "jobs.jsonl"
    prompts = {f"job-{i}": f"a harbour at dawn, take {i}" for i in range(JOBS)}
    jobs_file.write_text("".join(json.dumps({"id": k, "prompt": v}) + "\n"
                                 for k, v in prompts.items()))  # fmt: skip
    async with Simulator("clean") as sim:
        config = tmp_path / "genguard.yaml"
        config.write_text(
            f"""version: 1
profiles:
  default:
    provider: {{type: gemini, api_key: "${{GENGUARD_SIM_KEY}}", base_url: "{sim.base_url}"}}
    deadline: 60s
    layers:
      - retry: {{attempts: 3, backoff: {{initial: 10ms, max: 50ms}}}}
      - rate_limit: {{requests: {RATE}/s}}
    state: {{backend: redis, url: "{redis_url}", namespace: batch-shards}}
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["GENGUARD_SIM_KEY"] = "sim-key"
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "genguard.cli",
                "batch",
                "run",
                str(jobs_file),
                "--out",
                str(tmp_path / f"out-{k}"),
                "--config",
                str(config),
                "--shard",
                f"{k}/2",
                "--concurrency",
                "8",
                "--progress",
                "none",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=ROOT,
            )
            for k in (1, 2)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 120)
        for worker, (_, err) in zip(workers, results, strict=True):
            assert worker.returncode == 0, err.decode()
        log = list(sim.log)

    assert len(log) == JOBS and all(r.status == 200 for r in log)
    assert Counter(r.prompt for r in log) == Counter(prompts.values())  # every job, once
    times = sorted(r.time for r in log)
    assert times[-1] - times[0] >= MIN_SPAN  # one quota for both processes, not two
    # Each worker did its own share, and its folder holds exactly that share.
    ids = [job.id for job in read_jobs(jobs_file)]
    for k in (1, 2):
        lines = (tmp_path / f"out-{k}" / "manifest.jsonl").read_text().splitlines()
        done = {json.loads(line)["id"] for line in lines}
        assert done == {i for i in ids if shard_of(i, 2) == k}
    assert 0 < sum(1 for i in ids if shard_of(i, 2) == 1) < JOBS
