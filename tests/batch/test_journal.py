"""The journal: committed states, recovery of a killed run, one run per folder."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from genguard.batch import JournalError
from genguard.batch.journal import Finish, Journal


async def test_states_survive_reopening_and_in_flight_jobs_become_uncertain(
    tmp_path: Path,
) -> None:
    journal = await Journal.open(tmp_path)
    assert await journal.add(["a", "b", "c"]) == 3
    assert await journal.add(["a", "d"]) == 1
    await journal.set_state(["a", "b"], "sending", count_send=True)
    await journal.finish([Finish("a", "done", "live", attempts=2, files=("images/a.png",))])
    await journal.close()

    # What another process would see: the committed rows, straight from the file.
    rows = dict(sqlite3.connect(tmp_path / "journal.sqlite3").execute("SELECT id, state FROM jobs"))
    assert rows == {"a": "done", "b": "sending", "c": "pending", "d": "pending"}

    journal = await Journal.open(tmp_path)
    assert await journal.recover() == 1
    states = await journal.states()
    assert states == {"a": "done", "b": "uncertain", "c": "pending", "d": "pending"}
    records = {r.id: r for r in await journal.records()}
    assert records["a"].files == ("images/a.png",) and records["a"].attempts == 2
    assert records["b"].billing == "uncertain" and records["b"].sends == 1
    assert [r.id for r in await journal.records()] == ["a", "b", "c", "d"]
    await journal.close()


async def test_one_run_per_folder_and_settings_must_match(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path)
    await journal.bind({"shard": "1/2"})
    with pytest.raises(JournalError, match="another run"):
        await Journal.open(tmp_path)
    with pytest.raises(JournalError, match="shard=1/2"):
        await journal.bind({"shard": "2/2"})
    await journal.close()
    reader = await Journal.open(tmp_path, read_only=True)  # beside a run, for status
    assert await reader.meta() == {"shard": "1/2"}
    await reader.close()
    again = await Journal.open(tmp_path)  # the lock went with the first run
    await again.close()


async def test_read_only_needs_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        await Journal.open(tmp_path, read_only=True)


async def test_concurrent_writes_share_commits_and_all_land(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path)
    ids = [f"j{i}" for i in range(500)]
    await journal.add(ids)
    await asyncio.gather(*(journal.set_state([i], "sending") for i in ids))
    await asyncio.gather(*(journal.finish([Finish(i, "done", "live")]) for i in ids))
    assert set((await journal.states()).values()) == {"done"}
    await journal.close()


async def test_a_cancelled_waiter_does_not_lose_the_write(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path)
    await journal.add(["a"])
    task = asyncio.create_task(journal.set_state(["a"], "sending"))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await journal.close()  # queued writes finish before close returns
    journal = await Journal.open(tmp_path)
    assert (await journal.states())["a"] == "sending"
    await journal.close()
