"""Errors of batch runs: a bad job file, a journal that belongs to another run, a failed batch."""

from __future__ import annotations

from ..errors import GenGuardError


class JobFileError(GenGuardError):
    """The job file cannot be used as given; ``line`` is 1-based (0 for the whole file)."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class JournalError(GenGuardError):
    """The output folder's journal cannot serve this run (another job file, shard or mode)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class BatchJobFailed(GenGuardError):
    """A provider batch ended without a result for this job: failed, expired or cancelled.

    Retryable through the live path (``--retry-live``): nothing was generated.
    """

    retryable = True

    def __init__(self, message: str, *, batch_id: str, state: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.state = state


class OutcomeUncertain(GenGuardError):
    """The request for this job was sent and its answer lost (the run stopped mid-call).

    It may have been generated and billed; it is sent again only when the run's
    policy says so (``resubmit_uncertain``).
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


__all__ = ["BatchJobFailed", "JobFileError", "JournalError", "OutcomeUncertain"]
