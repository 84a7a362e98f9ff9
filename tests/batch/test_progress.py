"""Progress and summary read the run's tally: plain lines on the injected clock, a live bar."""

from __future__ import annotations

import asyncio
import io

from genguard.batch import Tally
from genguard.batch.progress import eta, progress_line, show_progress, summary_lines
from genguard.clock import FakeClock


def tally(now: float) -> Tally:
    return Tally(total=10, done_before=2, to_run=8, done=3, failed=1, retries=4, images=3,
                 cost=0.5, started=now - 60)  # fmt: skip


def test_line_has_done_total_rate_eta_and_counts() -> None:
    line = progress_line(tally(100.0), 100.0)
    assert line.startswith("batch: 5/10 done (50%)")
    for part in ("3.0 img/min", "ETA 1m00s", "failed 1", "blocked 0", "retries 4", "$0.5000"):
        assert part in line
    assert eta(Tally(to_run=4, started=0.0), 10.0) is None  # nothing finished yet: unknown


async def test_plain_lines_every_interval_on_the_injected_clock() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    counts = tally(clock.now())
    async with show_progress(counts, clock, stream, interval=5.0, live=False):
        await clock.sleep(12.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("batch: 5/10") for line in lines)


async def test_live_bar_renders_to_the_stream() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    async with show_progress(tally(clock.now()), clock, stream, live=True):
        await asyncio.sleep(0)
    assert "5/10" in stream.getvalue()


def test_summary_reports_what_was_resumed_and_held_back() -> None:
    counts = tally(100.0)
    counts.held_uncertain, counts.recovered_uncertain = 2, 3
    text = "\n".join(summary_lines(counts, 100.0, "out/manifest.jsonl"))
    assert "done      5 (3 now, 2 resumed as done)" in text
    assert "uncertain 2 held back" in text and "3 found after an interrupted run" in text
    assert "manifest  out/manifest.jsonl" in text
