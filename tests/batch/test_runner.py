"""Runs over real HTTP against the simulator: manifest, outcomes as they finish, resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from genguard import Client
from genguard.batch import BatchRunner, Job, RunOptions, run_batch
from genguard.batch.journal import Journal
from genguard.clock import FakeClock
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Reply, Simulator

PNG = b"\x89PNG\r\n\x1a\n"


def jobs(count: int, prefix: str = "job") -> list[Job]:
    return [Job(id=f"{prefix}-{i}", prompt=f"{prefix} prompt {i}", seed=i) for i in range(count)]


def client_for(sim: Simulator, clock: FakeClock, attempts: int = 10) -> Client:
    layers = [RetryLayer(attempts=attempts, initial=0.01, max_delay=0.05, max_retry_after=1.0)]
    return Client(GeminiProvider("sim-key", base_url=sim.base_url), layers, clock=clock)


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    return {entry["id"]: entry for entry in map(json.loads, lines)}


async def test_a_flaky_run_of_hundreds_of_jobs_has_a_correct_manifest(tmp_path: Path) -> None:
    work = jobs(300)
    async with Simulator("flaky", failure_rate=0.3, max_hint=0.05, seed=11) as sim:
        async with client_for(sim, FakeClock()) as client:
            runner = BatchRunner(client, work, tmp_path, RunOptions(concurrency=16))
            seen = [outcome.id async for outcome in runner.outcomes()]
        requests = Counter(r.prompt for r in sim.log)
        successes = Counter(r.prompt for r in sim.log if r.status == 200)
    assert sorted(seen) == sorted(j.id for j in work)
    entries = manifest(tmp_path)
    assert list(entries) == [j.id for j in work]  # job-file order
    assert sum(requests.values()) > len(work)  # the profile did fail requests
    for job in work:
        entry = entries[job.id]
        # Every attempt the manifest counts is a request the simulator saw, and vice versa.
        assert entry["attempts"] == requests[job.prompt], job.id
        if entry["status"] == "done":
            assert successes[job.prompt] == 1
            assert entry["files"] == [f"images/{job.id}.png"]
            assert (tmp_path / entry["files"][0]).read_bytes().startswith(PNG)
            assert entry["provider"] == "gemini" and entry["model"] == "gemini-2.5-flash-image"
            assert entry["usage"]["image_tokens"] == 1290
            assert entry["error"] is None
        else:
            assert entry["status"] == "failed" and successes[job.prompt] == 0
            assert entry["error"]["type"] in ("ProviderUnavailable", "RateLimited")
    assert runner.tally.done + runner.tally.failed == len(work)
    assert runner.tally.retries == sum(requests.values()) - len(work)


async def test_failures_are_typed_in_the_manifest_and_retried_only_when_asked(
    tmp_path: Path,
) -> None:
    work = jobs(20)
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.status(400, message="bad field")] * 3)
        async with client_for(sim, FakeClock(), attempts=1) as client:
            first = await BatchRunner(client, work, tmp_path, RunOptions(concurrency=1)).run()
            assert (first.done, first.failed) == (17, 3)
            failed = [e for e in manifest(tmp_path).values() if e["status"] == "failed"]
            assert {e["error"]["type"] for e in failed} == {"BadRequest"}
            assert all(e["error"]["retryable"] is False for e in failed)

            sim.clear_log()
            again = await BatchRunner(client, work, tmp_path).run()
            assert (again.done, again.failed_before, len(sim.log)) == (0, 3, 0)

            retry = await BatchRunner(client, work, tmp_path, RunOptions(retry_failed=True)).run()
            assert (retry.done, retry.done_before) == (3, 17)
            assert sorted(r.prompt for r in sim.log) == sorted(
                next(j.prompt for j in work if j.id == e["id"]) for e in failed
            )
    assert {e["status"] for e in manifest(tmp_path).values()} == {"done"}


async def test_outcomes_arrive_as_jobs_finish_and_stopping_early_closes_the_run(
    tmp_path: Path,
) -> None:
    work = jobs(50)
    async with Simulator("clean") as sim, client_for(sim, FakeClock()) as client:
        got = []
        async with contextlib.aclosing(run_batch(client, work, tmp_path, concurrency=4)) as run:
            async for outcome in run:
                got.append(outcome)
                if len(got) == 5:
                    break
        assert all(o.status == "done" and o.files for o in got)
        # The folder is free again and the journal knows what finished.
        journal = await Journal.open(tmp_path)
        states = Counter((await journal.states()).values())
        await journal.close()
        assert states["done"] >= 5
        assert states["done"] + states["sending"] + states["pending"] == 50
        rest = await BatchRunner(client, work, tmp_path, RunOptions(resubmit_uncertain=True)).run()
    assert rest.done_before == states["done"]
    assert Counter(r.prompt for r in sim.log if r.status == 200).most_common(1)[0][1] <= 2


async def test_cancelling_the_consumer_stops_every_task(tmp_path: Path) -> None:
    work = jobs(40)
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.delay(30, then=Reply.ok())] * 4)
        async with client_for(sim, FakeClock()) as client:
            runner = BatchRunner(client, work, tmp_path, RunOptions(concurrency=4))
            task = asyncio.create_task(runner.run())
            while sim.pending_scripts("gemini"):  # noqa: ASYNC110 - polling another server
                await asyncio.sleep(0.01)
            before = asyncio.all_tasks()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert task.cancelled()
            leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
            assert not leftover
        journal = await Journal.open(tmp_path)  # released
        states = Counter((await journal.states()).values())
        await journal.close()
    # The four stuck requests were sent: the next run treats them as uncertain.
    assert states["sending"] == 4


async def test_a_task_group_error_comes_out_as_itself() -> None:
    import pytest

    from genguard.batch import JournalError
    from genguard.batch.runner import first_error

    async def broken() -> None:
        raise JournalError("out", "disk full")

    with pytest.raises(JournalError, match="disk full"):
        async with first_error(), asyncio.TaskGroup() as group:
            group.create_task(broken())


async def test_a_stopped_run_keeps_uncertain_only_what_was_sent(tmp_path: Path) -> None:
    from genguard.layers.rate_limit import RateLimitLayer

    work = jobs(12)
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.delay(30, then=Reply.ok())])
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        # One call in flight at a time: the other workers wait for a permit, unsent.
        async with Client(provider, [RateLimitLayer(concurrency=1)], clock=FakeClock()) as client:
            runner = BatchRunner(client, work, tmp_path, RunOptions(concurrency=4))
            task = asyncio.create_task(runner.run())
            while sim.pending_scripts("gemini"):  # noqa: ASYNC110 - polling another server
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            journal = await Journal.open(tmp_path)
            assert await journal.recover() == 1  # only the request that was on the wire
            states = Counter((await journal.states()).values())
            await journal.close()
            assert states == {"uncertain": 1, "pending": 11}
            rest = await BatchRunner(client, work, tmp_path).run()
        assert (rest.done, rest.held_uncertain) == (11, 1)
        sent = Counter(r.prompt for r in sim.log)
        assert sorted(sent.values()) == [1] * 12  # the held job was not sent again
        assert Counter(r.status for r in sim.log) == {200: 11, 499: 1}
