"""Runs a job file through a Client: bounded concurrency, a durable journal, outcomes as
they finish, and resume semantics that never pay twice for what is done.

Per job, in order: ``sending`` is committed, the request goes through the client's
whole pipeline (its retries, limits and breaker), the images are written, and
the final state is committed. Only then is the outcome yielded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..clock import Clock
from ..errors import ContentBlocked, GenGuardError
from ..model import Call, GenerationResult, Usage
from .jobs import Job, load_images, shard_of
from .journal import Finish, Journal
from .output import write_images, write_manifest

if TYPE_CHECKING:
    from ..pipeline import Client

Via = Literal["live", "batch-api"]
Status = Literal["done", "failed", "blocked"]
MAX_CONCURRENCY = 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished job: its files (relative to the output folder) or its typed error."""

    id: str
    status: Status
    via: Via
    files: tuple[str, ...] = ()
    provider: str | None = None
    model: str | None = None
    attempts: int = 0
    duration: float = 0.0
    cost: float | None = None
    usage: Mapping[str, Any] | None = None
    error: GenGuardError | None = None
    batch_id: str | None = None

    def finish(self, billing: str | None = None) -> Finish:
        error = self.error
        return Finish(
            id=self.id,
            state=self.status,
            via=self.via,
            attempts=self.attempts,
            provider=self.provider,
            model=self.model,
            files=self.files,
            cost=self.cost,
            usage=self.usage,
            duration=self.duration,
            error_type=None if error is None else type(error).__name__,
            error=None if error is None else error.message,
            retryable=None if error is None else error.retryable,
            billing=billing or (billing_of(error) if error is not None else "billed"),
            batch_id=self.batch_id,
        )


@dataclass
class Tally:
    """Live counts of a run, read by the progress display and the summary."""

    total: int = 0
    done_before: int = 0
    failed_before: int = 0
    blocked_before: int = 0
    held_uncertain: int = 0
    recovered_uncertain: int = 0
    to_run: int = 0
    done: int = 0
    failed: int = 0
    blocked: int = 0
    retries: int = 0
    images: int = 0
    cost: float = 0.0
    started: float = 0.0
    #: The provider batches' own counts (``--via batch-api``), by batch id.
    remote: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """Jobs that reached a final state in this run."""
        return self.done + self.failed + self.blocked

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "done":
            self.done += 1
            self.images += len(outcome.files)
        elif outcome.status == "blocked":
            self.blocked += 1
        else:
            self.failed += 1
        self.retries += max(0, outcome.attempts - 1)
        if outcome.cost:
            self.cost += outcome.cost


def billing_of(error: BaseException | None) -> str | None:
    """The billing status an error carries (``not_sent``/``rejected``/``uncertain``/``billed``),
    if the error tree in use records one."""
    for name in ("billing", "billing_status"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            return value
        value = getattr(value, "value", None)
        if isinstance(value, str):
            return value
    return None


def cost_of(result: object) -> float | None:
    """The cost a result (or an error after a billed attempt) carries, in the price book's
    currency: settled plus possibly billed (``genguard.billing.Cost.total``)."""
    value = getattr(result, "cost", None)
    if value is None:
        return None
    total = getattr(value, "total", value)
    if isinstance(total, int | float | Decimal) and not isinstance(total, bool):
        return round(float(total), 9)
    return None


_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


def usage_of(usage: Usage | None) -> dict[str, int] | None:
    """The token counts a result reported, for the manifest (no deep copy: this is per job)."""
    if usage is None:
        return None
    counts = {name: getattr(usage, name) for name in _USAGE_FIELDS}
    kept = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    return kept or None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run treats what earlier runs left behind, and how wide it goes."""

    concurrency: int = 8
    shard: tuple[int, int] | None = None
    #: Send again jobs whose earlier request may have been generated and billed.
    resubmit_uncertain: bool = False
    #: Send again jobs that failed in an earlier run.
    retry_failed: bool = False
    via: Via = "live"
    #: After the provider batches, send what they did not produce through the live path.
    retry_live: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be in [1, {MAX_CONCURRENCY}]")
        if self.shard is not None:
            k, n = self.shard
            if not 1 <= k <= n:
                raise ValueError("shard must be (K, N) with 1 <= K <= N")


Emit = Callable[[Outcome], Awaitable[None]]


class RemoteExecutor:
    """Runs jobs through a provider's Batch API; see ``genguard.batch.remote``."""

    async def run(
        self,
        jobs: Sequence[Job],
        journal: Journal,
        folder: Path,
        tally: Tally,
        emit: Emit,
    ) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class BatchRunner:
    """One run of ``jobs`` into ``out``. Iterate ``outcomes()``; read ``tally`` meanwhile.

    ``remote`` is needed for ``via="batch-api"``. The client is used, not owned:
    open and close it around the run.
    """

    def __init__(
        self,
        client: Client,
        jobs: Sequence[Job],
        out: str | Path,
        options: RunOptions | None = None,
        *,
        remote: RemoteExecutor | None = None,
        clock: Clock | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.notes = dict(notes or {})
        self.options = options or RunOptions()
        if self.options.via == "batch-api" and remote is None:
            raise ValueError("via='batch-api' needs a remote executor")
        self.jobs = list(jobs)
        self.folder = Path(out)
        self.remote = remote
        self.clock: Clock = clock or client.clock
        self.tally = Tally()
        self.manifest: Path | None = None
        #: Journal transactions the last run committed (group commit makes this << 2 per job).
        self.commits = 0
        self._unsent: list[str] = []

    def _in_shard(self) -> list[Job]:
        shard = self.options.shard
        if shard is None:
            return self.jobs
        k, n = shard
        return [job for job in self.jobs if shard_of(job.id, n) == k]

    async def run(self) -> Tally:
        """Run to the end, discarding outcomes; returns the tally."""
        async with contextlib.aclosing(self.outcomes()) as outcomes:
            async for _ in outcomes:
                pass
        return self.tally

    async def outcomes(self) -> AsyncGenerator[Outcome, None]:
        """Outcomes as jobs finish (each already committed to the journal)."""
        options = self.options
        journal = await Journal.open(self.folder)
        work: asyncio.Task[None] | None = None
        try:
            shard = options.shard
            await journal.bind({"shard": "all" if shard is None else f"{shard[0]}/{shard[1]}"})
            if self.notes:
                await journal.remember(self.notes)
            mine = self._in_shard()
            await journal.add([job.id for job in mine])
            tally = self.tally
            tally.recovered_uncertain = await journal.recover()
            states = await journal.states()
            todo = self._select(mine, states)
            tally.started = self.clock.now()
            results: asyncio.Queue[Outcome | None] = asyncio.Queue(maxsize=4 * options.concurrency)
            work = asyncio.create_task(self._work(todo, journal, results))
            while True:
                outcome = await results.get()
                if outcome is None:
                    break
                yield outcome
            await work
        finally:
            if work is not None and not work.done():
                work.cancel()
            if work is not None:
                await asyncio.gather(work, return_exceptions=True)
            try:
                if self._unsent:  # cancelled before any attempt was sent
                    await journal.set_state(self._unsent, "pending")
                records = await journal.records()
                self.manifest = await asyncio.to_thread(write_manifest, self.folder, records)
            finally:
                await journal.close()
                self.commits = journal.commits

    def _select(self, jobs: list[Job], states: Mapping[str, str]) -> list[Job]:
        """The jobs this run sends; the rest are counted as resumed or held back."""
        tally, options = self.tally, self.options
        tally.total = len(jobs)
        todo: list[Job] = []
        for job in jobs:
            state = states.get(job.id, "pending")
            if state == "done":
                tally.done_before += 1
            elif state == "blocked":
                tally.blocked_before += 1
            elif state == "failed" and not options.retry_failed:
                tally.failed_before += 1
            elif state == "uncertain" and not options.resubmit_uncertain:
                tally.held_uncertain += 1
            elif state == "batched" and options.via != "batch-api":
                tally.held_uncertain += 1  # still in a provider batch: never sent twice
            else:
                todo.append(job)
        tally.to_run = len(todo)
        return todo

    async def _work(
        self, todo: list[Job], journal: Journal, results: asyncio.Queue[Outcome | None]
    ) -> None:
        async def emit(outcome: Outcome) -> None:
            self.tally.add(outcome)
            await results.put(outcome)

        try:
            live = todo
            if self.options.via == "batch-api":
                assert self.remote is not None
                await self.remote.run(todo, journal, self.folder, self.tally, emit)
                live = []
                if self.options.retry_live:
                    # What the batches did not produce and a retry may fix, through the pipeline.
                    records = await journal.records()
                    again = {r.id for r in records if r.state == "failed" and r.retryable}
                    live = [job for job in todo if job.id in again]
            if live:
                await self._run_live(live, journal, emit)
        finally:
            await results.put(None)

    async def _run_live(self, jobs: list[Job], journal: Journal, emit: Emit) -> None:
        queue = deque(jobs)

        async def worker() -> None:
            while queue:
                job = queue.popleft()
                outcome = await self._live(job, journal)
                await emit(outcome)

        async with first_error(), asyncio.TaskGroup() as group:
            for _ in range(min(self.options.concurrency, len(jobs))):
                group.create_task(worker())

    async def _live(self, job: Job, journal: Journal) -> Outcome:
        # Committed before the request can leave: a kill from here on makes the job uncertain.
        await journal.set_state((job.id,), "sending", count_send=True)
        clock, client = self.clock, self.client
        start = clock.now()
        call: Call | None = None
        try:
            images = await asyncio.to_thread(load_images, job) if job.images else ()
            call = client.new_call(job.request(images))
            result = await client.run(call, client.handler)
        except GenGuardError as error:
            outcome = _failed(job.id, error, "live", clock.now() - start)
            await journal.finish((outcome.finish(_last_billing(call)),))
            return outcome
        except asyncio.CancelledError:
            # Stopped in an orderly way: if no attempt left this process, nothing can have
            # been generated, so the job goes back to pending instead of uncertain.
            if call is None or not call.billing.billed_or_uncertain:
                self._unsent.append(job.id)
            raise
        duration = clock.now() - start
        billing = _last_billing(call)
        folder = self.folder

        def write() -> tuple[Outcome, Finish]:
            try:
                files = write_images(folder, job.id, result.images)
            except OSError as exc:
                error = GenGuardError(f"cannot write the images of {job.id}: {exc.strerror}")
                failed = _failed(job.id, error, "live", duration)
                return failed, failed.finish(billing)
            done = _done(job.id, result, files, "live", duration)
            return done, done.finish(billing)

        return await journal.finish_after(write)


def _last_billing(call: Call | None) -> str | None:
    """The billing status of the call's last attempt (from its ledger)."""
    if call is None or not call.billing.charges:
        return None
    return call.billing.charges[-1].status


@contextlib.asynccontextmanager
async def first_error() -> AsyncIterator[None]:
    """Let a task group's first error out as itself (a ``JournalError``, say), not wrapped
    in an ``ExceptionGroup``: callers and the command line handle typed errors."""
    try:
        yield
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


def _done(
    job_id: str,
    result: GenerationResult,
    files: tuple[str, ...],
    via: Via,
    duration: float,
    *,
    cost: float | None = None,
    batch_id: str | None = None,
) -> Outcome:
    return Outcome(
        id=job_id,
        status="done",
        via=via,
        files=files,
        provider=result.provider,
        model=result.model,
        attempts=result.attempts,
        duration=duration,
        cost=cost if cost is not None else cost_of(result),
        usage=usage_of(result.usage),
        batch_id=batch_id,
    )


def _failed(
    job_id: str,
    error: GenGuardError,
    via: Via,
    duration: float,
    *,
    batch_id: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> Outcome:
    attempts = getattr(error, "attempts", None)
    return Outcome(
        id=job_id,
        status="blocked" if isinstance(error, ContentBlocked) else "failed",
        via=via,
        provider=provider or getattr(error, "provider", None),
        model=model,
        attempts=attempts if isinstance(attempts, int) and attempts > 0 else 1,
        duration=duration,
        cost=cost_of(error),
        error=error,
        batch_id=batch_id,
    )


def run_batch(
    client: Client,
    jobs: Sequence[Job],
    out: str | Path,
    *,
    concurrency: int = 8,
    shard: tuple[int, int] | None = None,
    resubmit_uncertain: bool = False,
    retry_failed: bool = False,
) -> AsyncIterator[Outcome]:
    """Outcomes of ``jobs`` through ``client`` as they finish; resumable from ``out``.

    Use it inside ``contextlib.aclosing`` when you may stop early, so the run's
    journal and manifest are closed at once.
    """
    options = RunOptions(
        concurrency=concurrency,
        shard=shard,
        resubmit_uncertain=resubmit_uncertain,
        retry_failed=retry_failed,
    )
    return BatchRunner(client, jobs, out, options).outcomes()


__all__ = [
    "BatchRunner",
    "Outcome",
    "RemoteExecutor",
    "RunOptions",
    "Status",
    "Tally",
    "Via",
    "billing_of",
    "cost_of",
    "first_error",
    "run_batch",
]
