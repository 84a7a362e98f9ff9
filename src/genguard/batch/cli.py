"""``genguard batch run|status|retry``: the command line over ``genguard.batch``.

Exit codes: 0 when every job of the run is done (or refused on content grounds),
1 when some failed or were held back as uncertain, 2 for bad usage or input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Any

from ..pipeline import Client

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_batch_parser(sub: Any) -> None:
    """Register ``batch`` and its subcommands on the top-level subparsers."""
    batch = sub.add_parser(
        "batch",
        help="run a job file (JSONL or CSV) into a folder: resumable, with progress",
        description="Many images from one job file, resumable from a journal in the output "
        "folder. See docs/batch.md.",
    )
    commands = batch.add_subparsers(dest="batch_command", metavar="SUBCOMMAND")

    run = commands.add_parser("run", help="run (or resume) a job file into a folder")
    run.add_argument("jobs", type=Path, help="job file: JSONL (id, prompt, ...) or CSV (prompt)")
    _common(run)

    status = commands.add_parser("status", help="what the journal of a folder says")
    status.add_argument("out", type=Path, help="the output folder of a run")
    status.add_argument("--failed", action="store_true", help="list every failed job")

    retry = commands.add_parser("retry", help="send again the failed jobs of a folder")
    retry.add_argument("out", type=Path, help="the output folder of a run")
    retry.add_argument("--failed", action="store_true", required=True, help="retry failed jobs")
    retry.add_argument("--jobs", type=Path, default=None, help="the job file, if it moved")
    _common(retry, with_out=False)


def _common(parser: argparse.ArgumentParser, *, with_out: bool = True) -> None:
    if with_out:
        parser.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    parser.add_argument("--config", type=Path, default=None, help="policy file (YAML or TOML)")
    parser.add_argument("--profile", default=None, help="profile in the policy file")
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
    parser.add_argument(
        "--sim-profile",
        default="clean",
        help="fault profile when the embedded simulator answers (no key, no --config)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the ``batch`` subcommand in ``args``."""
    from ..errors import ConfigError, GenGuardError

    try:
        if args.batch_command == "run":
            return asyncio.run(_run(args, args.jobs, args.out, retry_failed=False))
        if args.batch_command == "status":
            return asyncio.run(_status(args.out, args.failed, sys.stdout))
        if args.batch_command == "retry":
            return asyncio.run(_retry(args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    except GenGuardError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_USAGE)
    print("usage: genguard batch {run,status,retry} ...", file=sys.stderr)
    return EXIT_USAGE


def _fail(message: str, code: int) -> int:
    print(f"genguard: {message}", file=sys.stderr)
    return code


async def _retry(args: argparse.Namespace) -> int:
    from .journal import Journal

    journal = await Journal.open(args.out, read_only=True)
    try:
        meta = await journal.meta()
    finally:
        await journal.close()
    jobs = args.jobs or (Path(meta["jobs"]) if "jobs" in meta else None)
    if jobs is None:
        return _fail("the journal does not say where the job file is: pass --jobs", EXIT_USAGE)
    if args.shard is None and meta.get("shard", "all") != "all":
        args.shard = meta["shard"]
    return await _run(args, jobs, args.out, retry_failed=True)


async def _run(args: argparse.Namespace, jobs_path: Path, out: Path, *, retry_failed: bool) -> int:
    from .jobs import parse_shard, read_jobs
    from .progress import show_progress, summary_lines
    from .runner import BatchRunner, RunOptions

    if not 1 <= args.concurrency <= 1024:
        return _fail("--concurrency must be in [1, 1024]", EXIT_USAGE)
    if not args.interval > 0:
        return _fail("--interval must be > 0", EXIT_USAGE)
    if args.poll is not None and not 0 < args.poll <= 3600:
        return _fail("--poll must be in (0, 3600] seconds", EXIT_USAGE)
    if not 1 <= args.batch_size <= 50_000:
        return _fail("--batch-size must be in [1, 50000]", EXIT_USAGE)
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
    client = _client(args)
    async with client:
        notes = {"jobs": await asyncio.to_thread(os.path.abspath, jobs_path)}
        remote = None
        if args.via == "batch-api":
            from .remote import remote_for

            remote = remote_for(client, poll=args.poll, batch_size=args.batch_size)
        runner = BatchRunner(client, jobs, out, options, remote=remote, notes=notes)
        stream: IO[str] = sys.stderr
        clock = runner.clock
        if args.progress == "none":
            await runner.run()
        else:
            live = None if args.progress == "auto" else args.progress == "live"
            async with show_progress(
                runner.tally, clock, stream, interval=args.interval, live=live
            ):
                await runner.run()
        tally = runner.tally
        manifest = str(runner.manifest) if runner.manifest else None
        for line in summary_lines(tally, clock.now(), manifest):
            print(line)
    return EXIT_FAILED if tally.failed or tally.held_uncertain else EXIT_OK


def _client(args: argparse.Namespace) -> Any:
    """The configured client, else a real provider with a key, else the embedded simulator."""
    if args.config is not None or os.environ.get("GENGUARD_CONFIG"):
        from ..config import client_from_config

        return client_from_config(args.config, profile=args.profile)
    from ..config.factory import SimBackedProvider
    from ..config.schema import SimProviderConfig
    from ..demo import default_stack
    from ..providers.gemini import GeminiProvider
    from ..providers.openai import OpenAIProvider

    keys = {"gemini": os.environ.get("GEMINI_API_KEY"), "openai": os.environ.get("OPENAI_API_KEY")}
    api = next((name for name, key in keys.items() if key), None)
    if api == "gemini":
        return Client(GeminiProvider(str(keys["gemini"])), default_stack(quick=False), deadline=300)
    if api == "openai":
        return Client(OpenAIProvider(str(keys["openai"])), default_stack(quick=False), deadline=300)
    print(
        f"genguard: no API key set: using the embedded simulator (profile {args.sim_profile})",
        file=sys.stderr,
    )
    provider = SimBackedProvider(
        SimProviderConfig(type="sim", api="gemini", profile=args.sim_profile), "batch"
    )
    return _SimClient(provider, default_stack(), deadline=60)


class _SimClient(Client):
    """A client whose provider is an embedded simulator it starts and stops."""

    async def __aenter__(self) -> _SimClient:
        await super().__aenter__()
        await self.provider.start()  # type: ignore[attr-defined]
        return self

    async def aclose(self) -> None:
        await super().aclose()
        await self.provider.aclose()  # type: ignore[attr-defined]


async def _status(out: Path, list_failed: bool, stream: IO[str]) -> int:
    from .journal import Journal

    journal = await Journal.open(out, read_only=True)
    try:
        records = await journal.records()
        batches = await journal.batches()
        meta = await journal.meta()
    finally:
        await journal.close()
    states = Counter(record.state for record in records)
    print(f"{out}: {len(records)} jobs (shard {meta.get('shard', 'all')})", file=stream)
    for state in ("done", "failed", "blocked", "uncertain", "batched", "pending", "sending"):
        if states.get(state):
            print(f"  {state:<10}{states[state]}", file=stream)
    cost = sum(record.cost or 0.0 for record in records)
    print(f"  cost      ${cost:.4f}", file=stream)
    for batch in batches:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(batch.counts.items()))
        line = f"  batch {batch.id} ({batch.api}): {batch.state}, {batch.jobs} jobs {counts}"
        print(line.rstrip(), file=stream)
    failed = [record for record in records if record.state == "failed"]
    for record in failed if list_failed else failed[:10]:
        print(f"  failed {record.id}: {record.error_type}: {record.error}", file=stream)
    if failed and not list_failed and len(failed) > 10:
        print(f"  ... {len(failed) - 10} more (--failed lists them all)", file=stream)
    return EXIT_OK


__all__ = ["add_batch_parser", "main"]
