"""``--via batch-api``: jobs go through the provider's Batch API at half price.

Per group of jobs (one model or endpoint, at most ``batch_size``): ``submitting`` is
committed, the lines are uploaded and the batch created, then the batch id and
``batched`` are committed together. Batches are polled with backoff on the run's
clock; when one ends, every result line is mapped back to its job by id (per-line
errors included) and jobs without a result fail with ``BatchJobFailed``. A run
that starts while a batch is still running polls it: it never submits it again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from ..clock import Clock
from ..errors import ConfigError, GenGuardError
from ..model import Call, GenerationResult
from .errors import BatchJobFailed
from .jobs import Job, load_images
from .journal import Journal
from .output import write_images
from .runner import Emit, Outcome, RemoteExecutor, Tally, _done, _failed, first_error

if TYPE_CHECKING:
    from ..pipeline import Client

#: The price tier batch results are billed at (50% of standard in the shipped prices).
BATCH_TIER = "batch"
DEFAULT_BATCH_SIZE = 200
RemoteOutcome = Literal["running", "completed", "failed", "expired", "cancelled"]
LineResult = GenerationResult | GenGuardError
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,190}(/[A-Za-z0-9_.\-]{1,190})?")


def safe_id(value: object) -> str | None:
    """A provider's batch or file id, if it is safe to put in a URL path (else None)."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value) and ".." not in value:
        return value
    return None


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """Where a provider batch stands, in the provider's words and in ours."""

    state: str
    outcome: RemoteOutcome
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    message: str | None = None

    @property
    def terminal(self) -> bool:
        return self.outcome != "running"

    def counts(self) -> dict[str, int]:
        return {"total": self.total, "succeeded": self.succeeded, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class PendingLine:
    """One job on its way into a batch: its id, call context and built request."""

    job: Job
    call: Call


class BatchAPI(Protocol):
    """One provider's Files + Batch API."""

    name: str

    def group(self, job: Job) -> str:
        """Jobs with the same group may share one batch (same model or endpoint)."""
        ...

    async def submit(self, group: str, lines: Sequence[PendingLine]) -> str: ...

    async def status(self, batch_id: str) -> RemoteStatus: ...

    async def results(
        self, batch_id: str, status: RemoteStatus, calls: dict[str, Call]
    ) -> list[tuple[str, LineResult]]: ...


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Backoff between polls of a running batch."""

    initial: float = 5.0
    multiplier: float = 1.5
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.max_delay or self.multiplier < 1:
            raise ValueError("poll: need 0 < initial <= max_delay and multiplier >= 1")


@dataclass
class _Active:
    batch_id: str
    ids: list[str]
    started: float
    delay: float
    status: RemoteStatus | None = None
    extra: dict[str, str] = field(default_factory=dict)


class ProviderBatches(RemoteExecutor):
    """Runs a run's jobs through ``api``; built by :func:`remote_for`."""

    def __init__(
        self,
        client: Client,
        api: BatchAPI,
        *,
        poll: PollPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Clock | None = None,
    ) -> None:
        if not 1 <= batch_size <= 50_000:
            raise ValueError("batch_size must be in [1, 50000]")
        self.client = client
        self.api = api
        self.poll = poll or PollPolicy()
        self.batch_size = batch_size
        self.clock: Clock = clock or client.clock

    def _call(self, job: Job) -> Call:
        return self.client.new_call(job.request())

    async def run(
        self, jobs: Sequence[Job], journal: Journal, folder: Path, tally: Tally, emit: Emit
    ) -> None:
        by_id = {job.id: job for job in jobs}
        states = await journal.states()
        active: list[_Active] = []
        now = self.clock.now()
        for record in await journal.batches():
            if record.api != self.api.name:
                continue
            waiting = [i for i in await journal.batch_jobs(record.id) if i in by_id]
            if waiting:  # still running when the last run stopped: poll it, never resend it
                active.append(_Active(record.id, waiting, now, self.poll.initial))
        fresh = [job for job in jobs if states.get(job.id) != "batched"]
        groups: dict[str, list[Job]] = {}
        for job in fresh:
            groups.setdefault(self.api.group(job), []).append(job)
        for group, members in groups.items():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                submitted = await self._submit(group, chunk, journal, tally, emit)
                if submitted is not None:
                    active.append(submitted)
        if active:
            async with first_error(), asyncio.TaskGroup() as followers:
                for batch in active:
                    followers.create_task(self._follow(batch, by_id, journal, folder, tally, emit))

    async def _submit(
        self, group: str, chunk: list[Job], journal: Journal, tally: Tally, emit: Emit
    ) -> _Active | None:
        ids = [job.id for job in chunk]
        await journal.set_state(ids, "submitting", count_send=True)
        try:
            lines = []
            for job in chunk:
                images = await asyncio.to_thread(load_images, job) if job.images else ()
                lines.append(PendingLine(job, self.client.new_call(job.request(images))))
            batch_id = await self.api.submit(group, lines)
        except GenGuardError as error:
            if getattr(error, "status", None) is None and not isinstance(error, ConfigError):
                # No answer: the batch may exist. The jobs stay "submitting" (uncertain).
                tally.held_uncertain += len(ids)
                return None
            outcomes = [_failed(i, error, "batch-api", 0.0) for i in ids]
            await journal.finish([o.finish() for o in outcomes])
            for outcome in outcomes:
                await emit(outcome)
            return None
        await journal.add_batch(batch_id, self.api.name, group, ids)
        return _Active(batch_id, ids, self.clock.now(), self.poll.initial)

    async def _follow(
        self,
        active: _Active,
        jobs: dict[str, Job],
        journal: Journal,
        folder: Path,
        tally: Tally,
        emit: Emit,
    ) -> None:
        clock, poll = self.clock, self.poll
        while True:
            try:
                status = await self.api.status(active.batch_id)
            except GenGuardError as error:
                if getattr(error, "status", None) == 404:  # gone at the provider: say so per job
                    status = RemoteStatus("not_found", "failed", message="the batch is gone")
                    break
                if not error.retryable:
                    raise
                status = None
            if status is not None:
                active.status = status
                done = status.succeeded + status.failed
                tally.remote[active.batch_id] = f"{status.state} {done}/{status.total}"
                await journal.update_batch(active.batch_id, status.state, status.counts())
                if status.terminal:
                    break
            await clock.sleep(active.delay)
            active.delay = min(poll.max_delay, active.delay * poll.multiplier)
        calls = {i: self._call(jobs[i]) for i in active.ids if i in jobs}
        results = (
            []
            if status.state == "not_found"
            else await self.api.results(active.batch_id, status, calls)
        )
        await self._settle(active, status, dict(results), jobs, journal, folder, emit)

    async def _settle(
        self,
        active: _Active,
        status: RemoteStatus,
        results: dict[str, LineResult],
        jobs: dict[str, Job],
        journal: Journal,
        folder: Path,
        emit: Emit,
    ) -> None:
        elapsed = self.clock.now() - active.started
        outcomes: list[Outcome] = []
        for job_id in active.ids:
            got = results.get(job_id)
            if got is None:
                why = status.message or f"the batch ended {status.outcome} without this job"
                got = BatchJobFailed(
                    f"{active.batch_id}: {why}", batch_id=active.batch_id, state=status.outcome
                )
            if isinstance(got, GenGuardError):
                outcomes.append(
                    _failed(
                        job_id,
                        got,
                        "batch-api",
                        elapsed,
                        batch_id=active.batch_id,
                        provider=self.api.name,
                    )
                )
                continue
            try:
                files = await asyncio.to_thread(write_images, folder, job_id, got.images)
            except OSError as exc:
                error = GenGuardError(f"cannot write the images of {job_id}: {exc.strerror}")
                outcomes.append(_failed(job_id, error, "batch-api", elapsed))
                continue
            got = self._priced(got, jobs[job_id])
            outcomes.append(
                _done(job_id, got, files, "batch-api", elapsed, batch_id=active.batch_id)
            )
        for start in range(0, len(outcomes), 256):
            part = outcomes[start : start + 256]
            await journal.finish([o.finish() for o in part])
            for outcome in part:
                await emit(outcome)

    def _priced(self, result: GenerationResult, job: Job) -> GenerationResult:
        """The result with its cost at the batch tier (the price book's ``batch`` factor)."""
        from ..billing import Cost
        from ..catalogue.prices import Shape, default_prices

        book = self.client.prices or default_prices()
        price = book.get(result.model) or book.get(job.model or self.client.provider.model)
        if price is None:
            return result
        shape = replace(Shape.of(job.request()), tier=BATCH_TIER)
        try:
            amount = price.usage_cost(result.usage, shape)
        except GenGuardError:  # no batch tier for this model: leave it unpriced
            return result
        if amount is None:
            return result
        return replace(result, cost=Cost(settled=amount, currency=book.currency))


def remote_for(
    client: Client,
    *,
    poll: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Clock | None = None,
) -> ProviderBatches:
    """The Batch API of ``client``'s provider (Gemini or OpenAI), sharing its HTTP session."""
    from ..providers.gemini import GeminiProvider
    from ..providers.openai import OpenAIProvider
    from .gemini_batch import GeminiBatchAPI
    from .openai_batch import OpenAIBatchAPI

    provider = client.provider
    inner = getattr(provider, "_inner", None) or provider  # a simulator-backed provider
    the_clock = clock or client.clock
    api: BatchAPI
    if isinstance(inner, OpenAIProvider):
        api = OpenAIBatchAPI(inner, client.transport, the_clock)
    elif isinstance(inner, GeminiProvider):
        api = GeminiBatchAPI(inner, client.transport, the_clock)
    else:
        raise ConfigError("provider", f"{provider.name} has no Batch API genguard can use")
    policy = PollPolicy() if poll is None else PollPolicy(initial=poll, max_delay=max(poll, 60.0))
    return ProviderBatches(client, api, poll=policy, batch_size=batch_size, clock=the_clock)


__all__ = [
    "BATCH_TIER",
    "BatchAPI",
    "LineResult",
    "PendingLine",
    "PollPolicy",
    "ProviderBatches",
    "RemoteStatus",
    "remote_for",
    "safe_id",
]
