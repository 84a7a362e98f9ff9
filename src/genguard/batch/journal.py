"""The run's memory: one SQLite file in the output folder, written from one thread.

Every job has a state. ``sending`` is written (and committed) before a request
leaves, so a run killed at any moment leaves each job either untouched
(``pending``), finished (``done``/``failed``/``blocked``), in a provider batch
(``batched``), or possibly sent (``sending``/``submitting``), which the next run
turns into ``uncertain``: maybe generated and billed, resent only when asked.

SQLite calls block, so they all run on one writer thread; the event loop only
enqueues and awaits a future. The writes of one loop turn are handed over together
(one wake-up of the thread), and writes queued together share one transaction
(group commit), so N concurrent jobs cost one commit, not N.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from .errors import JournalError

JOURNAL_NAME = "journal.sqlite3"
LOCK_NAME = ".journal.lock"
State = Literal[
    "pending", "sending", "submitting", "batched", "done", "failed", "blocked", "uncertain"
]
FINISHED: frozenset[str] = frozenset({"done", "failed", "blocked"})
#: States a killed run leaves behind whose request may have been sent.
IN_FLIGHT: frozenset[str] = frozenset({"sending", "submitting"})
_GROUP = 512
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL,
  via TEXT,
  batch_id TEXT,
  sends INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  provider TEXT,
  model TEXT,
  files TEXT,
  cost REAL,
  usage TEXT,
  duration REAL,
  error_type TEXT,
  error TEXT,
  retryable INTEGER,
  billing TEXT,
  updated REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY,
  api TEXT NOT NULL,
  model TEXT,
  state TEXT NOT NULL,
  jobs INTEGER NOT NULL,
  counts TEXT,
  created REAL,
  updated REAL
);
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the journal, as the manifest and ``status`` show it."""

    id: str
    seq: int
    state: str
    via: str | None = None
    batch_id: str | None = None
    sends: int = 0
    attempts: int = 0
    provider: str | None = None
    model: str | None = None
    files: tuple[str, ...] = ()
    cost: float | None = None
    usage: Mapping[str, Any] | None = None
    duration: float | None = None
    error_type: str | None = None
    error: str | None = None
    retryable: bool | None = None
    billing: str | None = None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A provider batch this run created: where it stands and how many jobs it holds."""

    id: str
    api: str
    model: str | None
    state: str
    jobs: int
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Finish:
    """What a finished job writes: its final state and the facts for the manifest."""

    id: str
    state: State
    via: str
    attempts: int = 0
    provider: str | None = None
    model: str | None = None
    files: tuple[str, ...] = ()
    cost: float | None = None
    usage: Mapping[str, Any] | None = None
    duration: float | None = None
    error_type: str | None = None
    error: str | None = None
    retryable: bool | None = None
    billing: str | None = None
    batch_id: str | None = None


_STOP = object()
_Op = Callable[[sqlite3.Connection], Any]


class Journal:
    """The SQLite journal of one output folder. Use ``await Journal.open(folder)``.

    One run at a time holds a folder (an exclusive lock file); ``read_only``
    opens it beside a running run, for ``status``.
    """

    def __init__(self, folder: Path, *, read_only: bool = False) -> None:
        self.folder = folder
        self.path = folder / JOURNAL_NAME
        self.read_only = read_only
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: list[tuple[_Op, asyncio.Future[Any]]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd: int | None = None
        self._closed: asyncio.Future[None] | None = None
        #: Transactions committed so far (written by the journal thread; read after close).
        self.commits = 0

    @classmethod
    async def open(cls, folder: str | Path, *, read_only: bool = False) -> Journal:
        journal = cls(Path(folder), read_only=read_only)
        await journal._start()
        return journal

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self.read_only:
            if not self.path.exists():
                raise JournalError(str(self.folder), "no journal here (has a run used it?)")
        else:
            await asyncio.to_thread(self._take_lock)
        self._closed = loop.create_future()
        self._thread = threading.Thread(target=self._serve, name="genguard-journal", daemon=True)
        self._thread.start()
        try:
            await self._call(self._setup)
        except BaseException:
            await self.close()
            raise

    def _take_lock(self) -> None:
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(str(self.folder), f"cannot use the folder: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(str(self.folder), "another run is using this folder") from None
        self._lock_fd = fd

    def _setup(self, conn: sqlite3.Connection) -> None:
        if not self.read_only:
            conn.executescript(_SCHEMA)

    # -- the writer thread -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = f"file:{self.path}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level="DEFERRED", timeout=10)
        else:
            conn = sqlite3.connect(self.path, isolation_level="DEFERRED", timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a killed process (not a power cut) without an fsync per commit.
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        opened: BaseException | None = None
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            opened = JournalError(str(self.path), f"cannot open the journal: {exc}")
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            group = list(item)
            while len(group) < _GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(_STOP)
                    break
                group.extend(more)
            self._run_group(conn, opened, group)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._notify([(self._closed, None, None)])

    def _run_group(
        self,
        conn: sqlite3.Connection | None,
        opened: BaseException | None,
        group: list[tuple[_Op, asyncio.Future[Any]]],
    ) -> None:
        answers: list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]] = []
        if conn is None:
            error = opened or JournalError(str(self.path), "the journal is not open")
            self._notify([(fut, None, error) for _, fut in group])
            return
        for op, fut in group:
            try:
                answers.append((fut, op(conn), None))
            except sqlite3.Error as exc:
                answers.append((fut, None, JournalError(str(self.path), f"journal error: {exc}")))
            except Exception as exc:  # an op's own typed error travels back to its caller
                answers.append((fut, None, exc))
        try:
            if conn.in_transaction:
                conn.commit()
                self.commits += 1
        except sqlite3.Error as exc:
            error = JournalError(str(self.path), f"journal commit failed: {exc}")
            answers = [(fut, None, err or error) for fut, _, err in answers]
        self._notify(answers)

    def _notify(self, answers: list[tuple[Any, Any, BaseException | None]]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_resolve_all, answers)

    async def _call(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._thread is None or self._loop is None:
            raise JournalError(str(self.path), "the journal is closed")
        fut: asyncio.Future[_T] = self._loop.create_future()
        self._pending.append((op, fut))
        if len(self._pending) == 1:  # the first of this loop turn: hand them over once
            self._loop.call_soon(self._hand_over)
        return await fut

    def _hand_over(self) -> None:
        """One queue put (one wake-up of the writer) for every write of a loop turn."""
        pending, self._pending = self._pending, []
        if pending:
            self._queue.put(pending)

    async def close(self) -> None:
        """Finish queued writes, close the file and release the folder."""
        thread, self._thread = self._thread, None
        if thread is not None and self._closed is not None:
            self._hand_over()
            self._queue.put(_STOP)
            await asyncio.shield(self._closed)
            await asyncio.to_thread(thread.join)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the run's questions and answers ---------------------------------------------------

    async def bind(self, settings: Mapping[str, str]) -> None:
        """Record the run's settings (shard, mode); a later run must use the same ones."""

        def op(conn: sqlite3.Connection) -> None:
            stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            for key, value in settings.items():
                old = stored.get(key)
                if old is not None and old != value:
                    raise JournalError(
                        str(self.folder),
                        f"this folder was run with {key}={old}, not {value}; "
                        "use another --out folder",
                    )
            conn.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", list(settings.items())
            )

        await self._call(op)

    async def meta(self) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())

        return await self._call(op)

    async def remember(self, settings: Mapping[str, str]) -> None:
        """Store facts a later command may reuse (e.g. where the job file was)."""

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(settings.items())
            )

        await self._call(op)

    async def add(self, ids: Sequence[str]) -> int:
        """Add jobs not seen before as ``pending``; returns how many were new."""

        def op(conn: sqlite3.Connection) -> int:
            start = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO jobs (id, seq, state) VALUES (?, ?, 'pending')",
                ((job_id, start + i + 1) for i, job_id in enumerate(ids)),
            )
            return conn.total_changes - before

        return await self._call(op)

    async def recover(self) -> int:
        """Jobs a killed run left possibly sent become ``uncertain``; returns how many."""

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE jobs SET state = 'uncertain', billing = 'uncertain', updated = ? "
                "WHERE state IN ('sending', 'submitting')",
                (time.time(),),
            )
            return cur.rowcount

        return await self._call(op)

    async def states(self) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            return dict(conn.execute("SELECT id, state FROM jobs").fetchall())

        return await self._call(op)

    async def set_state(
        self, ids: Iterable[str], state: State, *, count_send: bool = False
    ) -> None:
        """Move jobs to ``state`` (committed when this returns). ``count_send`` counts a send."""
        rows = [(state, int(count_send), time.time(), job_id) for job_id in ids]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE jobs SET state = ?, sends = sends + ?, updated = ? WHERE id = ?", rows
            )

        await self._call(op)

    async def finish(self, finishes: Sequence[Finish]) -> None:
        """Write jobs' final states (committed when this returns)."""
        rows = [_finish_row(f, time.time()) for f in finishes]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(_FINISH_SQL, rows)

        await self._call(op)

    async def finish_after(self, work: Callable[[], tuple[_T, Finish]]) -> _T:
        """Run ``work`` (blocking: it writes a job's files) on the journal's thread, then
        record the ``Finish`` it returns, in that order: a job is never ``done`` before its
        files exist. One hand-over instead of two (a file thread, then the journal)."""

        def op(conn: sqlite3.Connection) -> _T:
            value, finish = work()
            conn.execute(_FINISH_SQL, _finish_row(finish, time.time()))
            return value

        return await self._call(op)

    async def records(self) -> list[JobRecord]:
        """Every job, in job-file order."""

        def op(conn: sqlite3.Connection) -> list[JobRecord]:
            cur = conn.execute(
                "SELECT id, seq, state, via, batch_id, sends, attempts, provider, model, files, "
                "cost, usage, duration, error_type, error, retryable, billing FROM jobs "
                "ORDER BY seq"
            )
            return [_record(row) for row in cur.fetchall()]

        return await self._call(op)

    # -- provider batches ------------------------------------------------------------------

    async def add_batch(
        self, batch_id: str, api: str, model: str | None, ids: Sequence[str]
    ) -> None:
        """Record a created provider batch and move its jobs to ``batched`` in one commit."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO batches (id, api, model, state, jobs, counts, created, "
                "updated) VALUES (?, ?, ?, 'created', ?, '{}', ?, ?)",
                (batch_id, api, model, len(ids), now, now),
            )
            conn.executemany(
                "UPDATE jobs SET state = 'batched', via = 'batch-api', batch_id = ?, "
                "updated = ? WHERE id = ?",
                [(batch_id, now, job_id) for job_id in ids],
            )

        await self._call(op)

    async def update_batch(self, batch_id: str, state: str, counts: Mapping[str, int]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE batches SET state = ?, counts = ?, updated = ? WHERE id = ?",
                (state, json.dumps(dict(counts)), time.time(), batch_id),
            )

        await self._call(op)

    async def batches(self) -> list[BatchRecord]:
        def op(conn: sqlite3.Connection) -> list[BatchRecord]:
            cur = conn.execute(
                "SELECT id, api, model, state, jobs, counts FROM batches ORDER BY created"
            )
            return [
                BatchRecord(r[0], r[1], r[2], r[3], r[4], _counts(r[5])) for r in cur.fetchall()
            ]

        return await self._call(op)

    async def batch_jobs(self, batch_id: str) -> list[str]:
        """Ids of the jobs still waiting on ``batch_id``."""

        def op(conn: sqlite3.Connection) -> list[str]:
            cur = conn.execute(
                "SELECT id FROM jobs WHERE batch_id = ? AND state = 'batched' ORDER BY seq",
                (batch_id,),
            )
            return [row[0] for row in cur.fetchall()]

        return await self._call(op)


_FINISH_SQL = (
    "UPDATE jobs SET state = ?, via = ?, batch_id = COALESCE(?, batch_id), "
    "attempts = attempts + ?, provider = ?, model = ?, files = ?, cost = ?, "
    "usage = ?, duration = ?, error_type = ?, error = ?, retryable = ?, "
    "billing = ?, updated = ? WHERE id = ?"
)


def _finish_row(f: Finish, now: float) -> tuple[Any, ...]:
    return (
        f.state, f.via, f.batch_id, f.attempts, f.provider, f.model,
        json.dumps(list(f.files)), f.cost,
        None if f.usage is None else json.dumps(dict(f.usage)),
        f.duration, f.error_type, f.error,
        None if f.retryable is None else int(f.retryable), f.billing, now, f.id,
    )  # fmt: skip


def _resolve_all(answers: list[tuple[Any, Any, BaseException | None]]) -> None:
    for fut, value, error in answers:
        if fut is None or fut.done():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)


def _counts(text: str | None) -> dict[str, int]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int)}


def _record(row: tuple[Any, ...]) -> JobRecord:
    try:
        files = tuple(str(f) for f in json.loads(row[9] or "[]"))
    except (ValueError, TypeError):
        files = ()
    try:
        usage = json.loads(row[11]) if row[11] else None
    except ValueError:
        usage = None
    return JobRecord(
        id=row[0], seq=row[1], state=row[2], via=row[3], batch_id=row[4], sends=row[5],
        attempts=row[6], provider=row[7], model=row[8], files=files, cost=row[10],
        usage=usage if isinstance(usage, dict) else None, duration=row[12],
        error_type=row[13], error=row[14], retryable=None if row[15] is None else bool(row[15]),
        billing=row[16],
    )  # fmt: skip


__all__ = [
    "FINISHED",
    "IN_FLIGHT",
    "JOURNAL_NAME",
    "BatchRecord",
    "Finish",
    "JobRecord",
    "Journal",
    "State",
]
