"""``genguard batch run|status|retry``: the command line over ``genguard.batch``.

The policy comes from the same places as ``genguard generate`` (``--config`` and
``--profile``, else the shipped production profile of the API whose key is set,
``--sim`` for the embedded simulator). Exit codes: 0 when every job of the run is
done (or refused on content grounds), 1 when some failed or were held back as
uncertain, 2 for bad usage or input, 130 when interrupted (the journal keeps
everything that finished: run the same command to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Commands, Output
from .errors import JobFileError, JournalError


def register(commands: Commands) -> None:
    """Add ``batch`` and its subcommands."""
    group = commands.group(
        "batch",
        help="run a job file (JSONL or CSV) into a folder: resumable, with progress",
        description="Many images from one job file, resumable from a journal in the output "
        "folder. See docs/batch.md.",
    )
    run = group.add("run", run_command, help="run (or resume) a job file into a folder")
    run.add_argument("jobs", type=Path, help="job file: JSONL (id, prompt, ...) or CSV (prompt)")
    run.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    _options(run)

    status = group.add("status", status_command, help="what the journal of a folder says")
    status.add_argument("out", type=Path, help="the output folder of a run")
    status.add_argument("--failed", action="store_true", help="list every failed job")

    retry = group.add("retry", retry_command, help="send again the failed jobs of a folder")
    retry.add_argument("out", type=Path, help="the output folder of a run")
    retry.add_argument("--failed", action="store_true", required=True, help="retry failed jobs")
    retry.add_argument("--jobs", type=Path, default=None, help="the job file, if it moved")
    _options(retry)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="policy file (YAML or TOML)")
    parser.add_argument(
        "--profile",
        default=None,
        help="profile in --config; without --config, a shipped profile (gemini, openai, ...)",
    )
    parser.add_argument(
        "--provider",
        choices=("gemini", "openai"),
        default=None,
        help="which API without --config (default: whichever key is set, Gemini first)",
    )
    parser.add_argument(
        "--sim", action="store_true", help="use the embedded simulator (no key needed)"
    )
    parser.add_argument("--sim-profile", default="clean", help="simulator fault profile with --sim")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs in flight (default 8)")
    parser.add_argument("--shard", default=None, help="K/N: run only this worker's share")
    parser.add_argument(
        "--via",
        choices=["live", "batch-api"],
        default="live",
        help="live calls through the pipeline, or the provider's Batch API (half price)",
    )
    parser.add_argument(
        "--retry-live",
        action="store_true",
        help="with --via batch-api: send what the batches did not produce through the live path",
    )
    parser.add_argument(
        "--poll", type=float, default=None, help="--via batch-api: first poll delay (default 5s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=200, help="--via batch-api: jobs per provider batch"
    )
    parser.add_argument(
        "--resubmit-uncertain",
        action="store_true",
        help="send again jobs an interrupted run may already have generated (and been billed for)",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "live", "plain", "none"],
        default="auto",
        help="live bar on a terminal, plain lines elsewhere (default auto)",
    )
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between plain progress lines"
    )


def _usage(message: str) -> CommandError:
    return CommandError(message, exit_code=EXIT_USAGE)


def run_command(args: argparse.Namespace, output: Output) -> int:
    return _interruptible(output, _run(args, output, args.jobs, args.out, retry_failed=False))


def retry_command(args: argparse.Namespace, output: Output) -> int:
    return _interruptible(output, _retry(args, output))


def status_command(args: argparse.Namespace, output: Output) -> int:
    return output.run(_status(args.out, args.failed, output))


def _interruptible(output: Output, work: Any) -> int:
    try:
        code: int = output.run(work)
    except KeyboardInterrupt:
        output.note("every finished job is in the journal: run the same command to resume")
        raise
    except (JobFileError, JournalError) as error:  # bad input: nothing was sent
        raise _usage(f"{type(error).__name__}: {error}") from None
    return code


async def _retry(args: argparse.Namespace, output: Output) -> int:
    from .journal import Journal

    journal = await Journal.open(args.out, read_only=True)
    try:
        meta = await journal.meta()
    finally:
        await journal.close()
    jobs = args.jobs or (Path(meta["jobs"]) if "jobs" in meta else None)
    if jobs is None:
        raise _usage("the journal does not say where the job file is: pass --jobs")
    if args.shard is None and meta.get("shard", "all") != "all":
        args.shard = meta["shard"]
    return await _run(args, output, jobs, args.out, retry_failed=True)


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.concurrency <= 1024:
        raise _usage("--concurrency must be in [1, 1024]")
    if not args.interval > 0:
        raise _usage("--interval must be > 0")
    if args.poll is not None and not 0 < args.poll <= 3600:
        raise _usage("--poll must be in (0, 3600] seconds")
    if not 1 <= args.batch_size <= 50_000:
        raise _usage("--batch-size must be in [1, 50000]")


async def _run(
    args: argparse.Namespace, output: Output, jobs_path: Path, out: Path, *, retry_failed: bool
) -> int:
    from ..commands.generate import _client as policy_client
    from .jobs import parse_shard, read_jobs
    from .progress import show_progress, summary_lines
    from .runner import BatchRunner, RunOptions

    _check(args)
    shard = parse_shard(args.shard) if args.shard else None
    jobs = await asyncio.to_thread(read_jobs, jobs_path)
    options = RunOptions(
        concurrency=args.concurrency,
        shard=shard,
        resubmit_uncertain=args.resubmit_uncertain,
        retry_failed=retry_failed,
        via=args.via,
        retry_live=args.retry_live,
    )
    client, source = policy_client(args, output)
    if client.profile.provider.type == "sim":
        output.note(f"using the embedded simulator behind {source}: no API key used")
    async with client:
        remote = None
        if args.via == "batch-api":
            from .remote import remote_for

            remote = remote_for(client, poll=args.poll, batch_size=args.batch_size)
        notes = {"jobs": await asyncio.to_thread(os.path.abspath, jobs_path)}
        runner = BatchRunner(client, jobs, out, options, remote=remote, notes=notes)
        clock = runner.clock
        if args.progress == "none" or output.quiet:
            await runner.run()
        else:
            live = None if args.progress == "auto" else args.progress == "live"
            stream = output.stderr
            async with show_progress(
                runner.tally, clock, stream, interval=args.interval, live=live
            ):
                await runner.run()
        tally = runner.tally
        manifest = str(runner.manifest) if runner.manifest else None
        output.result(
            {
                "jobs": tally.total,
                "done": tally.done_before + tally.done,
                "done_now": tally.done,
                "failed": tally.failed + tally.failed_before,
                "blocked": tally.blocked + tally.blocked_before,
                "uncertain_held": tally.held_uncertain,
                "uncertain_found": tally.recovered_uncertain,
                "retries": tally.retries,
                "images": tally.images,
                "cost": round(tally.cost, 6),
                "manifest": manifest,
            },
            summary_lines(tally, clock.now(), manifest),
        )
    return EXIT_FAILED if tally.failed or tally.held_uncertain else EXIT_OK


async def _status(out: Path, list_failed: bool, output: Output) -> int:
    from .journal import Journal

    journal = await Journal.open(out, read_only=True)
    try:
        records = await journal.records()
        batches = await journal.batches()
        meta = await journal.meta()
    finally:
        await journal.close()
    states = Counter(record.state for record in records)
    cost = sum(record.cost or 0.0 for record in records)
    failed = [record for record in records if record.state == "failed"]
    lines = [f"{out}: {len(records)} jobs (shard {meta.get('shard', 'all')})"]
    for state in ("done", "failed", "blocked", "uncertain", "batched", "pending", "sending"):
        if states.get(state):
            lines.append(f"  {state:<10}{states[state]}")
    lines.append(f"  cost      ${cost:.4f}")
    for batch in batches:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(batch.counts.items()))
        lines.append(f"  batch {batch.id} ({batch.api}): {batch.state}, {batch.jobs} jobs {counts}")
    shown = failed if list_failed else failed[:10]
    lines.extend(f"  failed {r.id}: {r.error_type}: {r.error}" for r in shown)
    if len(failed) > len(shown):
        lines.append(f"  ... {len(failed) - len(shown)} more (--failed lists them all)")
    output.result(
        {
            "jobs": len(records),
            "shard": meta.get("shard", "all"),
            "states": dict(states),
            "cost": round(cost, 6),
            "batches": [
                {"id": b.id, "api": b.api, "state": b.state, "jobs": b.jobs, "counts": b.counts}
                for b in batches
            ],
            "failed": [{"id": r.id, "type": r.error_type, "message": r.error} for r in shown],
        },
        [line.rstrip() for line in lines],
    )
    return EXIT_OK


__all__ = ["register"]
