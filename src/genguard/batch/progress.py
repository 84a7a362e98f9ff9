"""Progress people can read: a live bar on a terminal (rich), one plain line per interval
elsewhere (logs, CI), and a summary at the end. All of it reads the run's ``Tally``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import IO, Any

from ..clock import Clock
from .runner import Tally

DEFAULT_INTERVAL = 10.0


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def rate_per_minute(tally: Tally, now: float) -> float:
    """Images per minute over this run so far."""
    elapsed = now - tally.started
    return 60.0 * tally.images / elapsed if elapsed > 0 else 0.0


def eta(tally: Tally, now: float) -> float | None:
    """Seconds until the jobs of this run are finished, at the rate seen so far."""
    elapsed = now - tally.started
    if tally.finished == 0 or elapsed <= 0:
        return None
    left = tally.to_run - tally.finished
    return max(0.0, left * elapsed / tally.finished)


def stats_text(tally: Tally, now: float) -> str:
    """The figures beside the bar: rate, ETA, blocked/failed, retries, cost, remote counts."""
    left = eta(tally, now)
    parts = [
        f"{rate_per_minute(tally, now):.1f} img/min",
        f"ETA {_duration(left) if left is not None else '?'}",
        f"failed {tally.failed}",
        f"blocked {tally.blocked}",
        f"retries {tally.retries}",
        f"cost ${tally.cost:.4f}",
    ]
    parts.extend(f"{batch}: {counts}" for batch, counts in sorted(tally.remote.items())[:4])
    return " · ".join(parts)


def progress_line(tally: Tally, now: float) -> str:
    """One plain line: done/total first, then the figures."""
    done = tally.done_before + tally.done
    percent = 100.0 * done / tally.total if tally.total else 100.0
    return f"batch: {done}/{tally.total} done ({percent:.0f}%) · {stats_text(tally, now)}"


def summary_lines(tally: Tally, now: float, manifest: str | None = None) -> list[str]:
    """The end-of-run summary: what this run did and what it resumed or held back."""
    elapsed = now - tally.started
    lines = [
        f"batch finished in {_duration(elapsed)}: {tally.total} jobs",
        f"  done      {tally.done_before + tally.done} ({tally.done} now, "
        f"{tally.done_before} resumed as done)",
        f"  failed    {tally.failed + tally.failed_before} ({tally.failed} now)",
        f"  blocked   {tally.blocked + tally.blocked_before}",
        f"  retries   {tally.retries}",
        f"  images    {tally.images} now, {rate_per_minute(tally, now):.1f} img/min",
        f"  cost      ${tally.cost:.4f} now",
    ]
    if tally.recovered_uncertain or tally.held_uncertain:
        lines.append(
            f"  uncertain {tally.held_uncertain} held back (sent by an earlier run, outcome "
            f"unknown; --resubmit-uncertain sends them again), {tally.recovered_uncertain} "
            "found after an interrupted run"
        )
    if manifest:
        lines.append(f"  manifest  {manifest}")
    return lines


async def _plain(tally: Tally, clock: Clock, stream: IO[str], interval: float) -> None:
    while True:
        await clock.sleep(interval)
        print(progress_line(tally, clock.now()), file=stream, flush=True)


async def _rich(tally: Tally, clock: Clock, stream: IO[str]) -> None:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    def render() -> Group:
        done = tally.done_before + tally.done
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text(f"batch {done}/{tally.total}"),
            ProgressBar(total=max(tally.total, 1), completed=done, width=30),
        )
        return Group(head, Text(stats_text(tally, clock.now()), overflow="fold"))

    with Live(render(), console=Console(file=stream), auto_refresh=False) as live:
        try:
            while True:
                live.update(render(), refresh=True)
                await asyncio.sleep(0.25)
        finally:
            live.update(render(), refresh=True)


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.asynccontextmanager
async def show_progress(
    tally: Tally,
    clock: Clock,
    stream: IO[str],
    *,
    interval: float = DEFAULT_INTERVAL,
    live: bool | None = None,
) -> AsyncIterator[None]:
    """Show progress while the body runs: rich on a terminal, plain lines otherwise."""
    if live is None:
        live = bool(getattr(stream, "isatty", lambda: False)()) and _rich_available()
    task: asyncio.Task[Any] = asyncio.create_task(
        _rich(tally, clock, stream) if live else _plain(tally, clock, stream, interval)
    )
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


__all__ = [
    "DEFAULT_INTERVAL",
    "eta",
    "progress_line",
    "rate_per_minute",
    "show_progress",
    "stats_text",
    "summary_lines",
]
