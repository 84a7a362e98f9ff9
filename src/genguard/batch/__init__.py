"""Many images from one job file: resumable, with progress, live or through the providers'
Batch APIs. ``run_batch(client, read_jobs(path), out)`` yields outcomes as they finish."""

from __future__ import annotations

from .errors import BatchJobFailed, JobFileError, JournalError, OutcomeUncertain
from .jobs import Job, parse_jobs, parse_shard, read_jobs, shard_of
from .runner import BatchRunner, Outcome, RunOptions, Tally, run_batch

__all__ = [
    "BatchJobFailed",
    "BatchRunner",
    "Job",
    "JobFileError",
    "JournalError",
    "Outcome",
    "OutcomeUncertain",
    "RunOptions",
    "Tally",
    "parse_jobs",
    "parse_shard",
    "read_jobs",
    "run_batch",
    "shard_of",
]
