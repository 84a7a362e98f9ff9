"""Batch runs: 10,000 jobs against the clean simulator, the runner against a plain asyncio
loop over the same client, and what the journal costs.

    python -m benchmarks.batch [--jobs 10000] [--concurrency 16] [--rounds 3] [--out FILE]

The simulator runs in its own process (``benchmarks.simproc``), so the CPU figures
are this process's alone: the client, plus the runner's journal, files and manifest.
Contenders, each over one ``Client`` (Gemini wire format, no layers) and the same
concurrency:

- plain loop: N workers pull jobs and ``await client.generate(...)``; nothing kept.
- plain loop + files: the same, writing each image in a thread as the runner does.
- runner: ``BatchRunner`` into a fresh folder: journal, images, manifest.
- runner, resumed: the same command again over the finished folder (every job skipped).
- journal alone: ``sending`` then ``done`` for every job at the same concurrency, no HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from genguard import Client
from genguard.batch import BatchRunner, Job, RunOptions
from genguard.batch.journal import Finish, Journal
from genguard.batch.output import write_images
from genguard.providers.gemini import GeminiProvider

from .common import machine, table
from .simproc import SimProcess


def _jobs(count: int) -> list[Job]:
    return [Job(id=f"j{i:06d}", prompt=f"a lighthouse, take {i}", seed=i) for i in range(count)]


async def _measure(body: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds for ``body``."""
    wall, cpu = time.perf_counter(), time.process_time()
    await body()
    return time.perf_counter() - wall, time.process_time() - cpu


async def _plain(client: Client, jobs: list[Job], concurrency: int, folder: Path | None) -> None:
    queue = deque(jobs)

    async def worker() -> None:
        while queue:
            job = queue.popleft()
            result = await client.generate(job.request())
            if folder is not None:
                await asyncio.to_thread(write_images, folder, job.id, result.images)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _journal_alone(folder: Path, jobs: list[Job], concurrency: int) -> int:
    journal = await Journal.open(folder)
    await journal.add([job.id for job in jobs])
    queue = deque(jobs)

    async def worker() -> None:
        while queue:
            job = queue.popleft()
            await journal.set_state((job.id,), "sending", count_send=True)
            await journal.finish((Finish(job.id, "done", "live", attempts=1),))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await journal.close()
    return journal.commits


async def run(count: int, concurrency: int, rounds: int = 3) -> dict[str, Any]:
    """Every contender ``rounds`` times, interleaved (so drift in a shared machine's load
    hits them alike); each figure is the median round."""
    jobs = _jobs(count)
    root = Path(tempfile.mkdtemp(prefix="genguard-bench-batch-"))
    samples: dict[str, list[tuple[float, float]]] = {}
    commits: list[int] = []
    commits_alone: list[int] = []

    def keep(name: str, measured: tuple[float, float]) -> None:
        samples.setdefault(name, []).append(measured)

    try:
        async with SimProcess() as sims:
            (_, url), = await sims.start("clean", record=False)  # fmt: skip
            provider = GeminiProvider("bench-key", base_url=url)
            async with Client(provider) as client:
                await _plain(client, _jobs(min(500, count)), concurrency, None)  # warm up
                options = RunOptions(concurrency=concurrency)
                for index in range(rounds):
                    folder = root / f"round-{index}"
                    plain = functools.partial(_plain, client, jobs, concurrency)
                    keep("plain loop", await _measure(functools.partial(plain, None)))
                    files = functools.partial(plain, folder / "plain")
                    keep("plain loop + files", await _measure(files))
                    runner = BatchRunner(client, jobs, folder / "run", options)
                    keep("runner (journal, files, manifest)", await _measure(runner.run))
                    resumed = BatchRunner(client, jobs, folder / "run", options)
                    keep("runner, resumed (all done)", await _measure(resumed.run))
                    assert runner.tally.done == count and resumed.tally.done_before == count
                    commits.append(runner.commits)

                    async def alone(f: Path = folder) -> None:
                        commits_alone.append(await _journal_alone(f / "alone", jobs, concurrency))

                    keep("journal alone (no HTTP)", await _measure(alone))
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = {}
    for name, values in samples.items():
        walls = sorted(w for w, _ in values)
        cpus = sorted(c for _, c in values)
        rows[name] = {"wall": walls[len(walls) // 2], "cpu": cpus[len(cpus) // 2]}
    return {
        "rows": rows,
        "rounds": rounds,
        "commits": sorted(commits)[len(commits) // 2],
        "commits_alone": sorted(commits_alone)[len(commits_alone) // 2],
    }


def render(figures: dict[str, Any], count: int, concurrency: int) -> str:
    rows = figures["rows"]
    base = rows["plain loop"]
    out = []
    for name, r in rows.items():
        per_job_cpu = 1e6 * r["cpu"] / count
        out.append((
            name, f"{r['wall']:.2f}", f"{count / r['wall']:.0f}", f"{per_job_cpu:.0f}",
            f"{r['wall'] / base['wall']:.2f}x", f"{r['cpu'] / base['cpu']:.2f}x",
        ))  # fmt: skip
    info = machine()
    runner = rows["runner (journal, files, manifest)"]
    files = rows["plain loop + files"]
    alone = rows["journal alone (no HTTP)"]
    lines = [
        "# Batch benchmark",
        "",
        f"Generated by `python -m benchmarks.batch --jobs {count} --concurrency {concurrency} "
        f"--rounds {figures['rounds']}` on {info.get('date', '')}; each figure is the median "
        "round (contenders interleaved).",
        "",
        table(["machine", ""], [(k, v) for k, v in info.items() if k != "date"]),
        "",
        f"{count} jobs, {concurrency} in flight, clean simulator in its own process; CPU is "
        "this process's (client and runner) only.",
        "",
        table(
            ["contender", "wall s", "jobs/s", "CPU us/job", "wall vs plain", "CPU vs plain"],
            out,
        ),
        "",
        f"- Runner overhead over a plain loop that also writes the images: "
        f"{1e6 * (runner['cpu'] - files['cpu']) / count:.0f} us CPU per job "
        f"({runner['cpu'] / files['cpu']:.2f}x the CPU, {runner['wall'] / files['wall']:.2f}x "
        "the wall time).",
        f"- Journal alone: {1e6 * alone['cpu'] / count:.0f} us CPU and "
        f"{1e6 * alone['wall'] / count:.0f} us wall per job (two committed writes each); "
        f"{figures['commits_alone']} commits for {2 * count} writes.",
        f"- The runner's journal committed {figures['commits']} transactions for {count} jobs "
        f"({figures['commits'] / count:.2f} per job): writes queued together share one commit.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (median)")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default: stdout)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.jobs, args.concurrency, max(1, args.rounds)))
    report = render(figures, args.jobs, args.concurrency)
    if args.out is None:
        sys.stdout.write(report)
    else:
        args.out.write_text(report, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
