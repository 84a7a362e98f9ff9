"""A job file of 200 images through genguard.batch, interrupted and resumed.

Runs without API keys, in a few seconds, against the embedded simulator:

    python examples/batch_jobs.py [OUTPUT_FOLDER]

It writes a JSONL job file, runs it through a client with retries against the
`flaky` simulator, stops after 50 outcomes (as a crash or Ctrl-C would), then
runs again: the second run skips what is done. The simulator's own log shows
that the only images generated twice are of jobs that were mid-request when the
first run stopped ("uncertain"), which this example chooses to send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from genguard import Client
from genguard.batch import BatchRunner, Job, RunOptions, read_jobs, run_batch
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Simulator


def write_job_file(folder: Path) -> Path:
    """200 prompts, one JSON object per line (blocking file work, before the loop starts)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs_file = folder / "jobs.jsonl"
    with jobs_file.open("w") as handle:
        for i in range(200):
            handle.write(json.dumps({"id": f"shot-{i:03d}", "prompt": f"product shot {i}"}) + "\n")
    return jobs_file


async def main(jobs: list[Job], out: Path) -> None:
    async with Simulator("flaky", failure_rate=0.2, max_hint=0.05, seed=1) as sim:
        retry = RetryLayer(attempts=10, initial=0.01, max_delay=0.1, max_retry_after=1.0)
        async with Client(GeminiProvider("sim-key", base_url=sim.base_url), [retry]) as client:
            # First run: take 50 outcomes as they finish, then stop.
            seen = 0
            async with contextlib.aclosing(run_batch(client, jobs, out, concurrency=8)) as run:
                async for outcome in run:
                    seen += 1
                    if seen == 1:
                        print(f"first outcome: {outcome.id} {outcome.status} {outcome.files}")
                    if seen == 50:
                        break
            print(f"first run stopped after {seen} outcomes")

            # Second run, same folder: resumes. Jobs that were mid-request when the
            # first run stopped are "uncertain" (maybe generated and billed); this
            # example's policy is to send them again.
            runner = BatchRunner(client, jobs, out, RunOptions(resubmit_uncertain=True))
            tally = await runner.run()
        generated = Counter(r.prompt for r in sim.log if r.status == 200)

    print(f"second run: {tally.done_before} already done, {tally.done} done now")
    print(f"images on disk: {len(list((out / 'images').glob('*.png')))}")
    twice = sum(1 for count in generated.values() if count > 1)
    print(f"generated twice: {twice} (uncertain jobs sent again: {tally.recovered_uncertain})")
    print(f"manifest: {runner.manifest}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="genguard-"))
    jobs = read_jobs(write_job_file(target))
    asyncio.run(main(jobs, target / "out"))
