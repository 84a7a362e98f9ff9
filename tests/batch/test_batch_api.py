"""``--via batch-api`` against the simulator's Files and Batch APIs, for both providers:
per-line errors, failed and expired batches, polling on the injected clock, resume."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from genguard import Client
from genguard.batch import BatchRunner, Job, RunOptions
from genguard.batch.journal import Journal
from genguard.batch.remote import PollPolicy, remote_for
from genguard.clock import FakeClock
from genguard.layers.retry import RetryLayer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.sim.batch import BatchFaults

PNG = b"\x89PNG\r\n\x1a\n"
APIS = ["gemini", "openai"]


def jobs(count: int) -> list[Job]:
    return [Job(id=f"b-{i}", prompt=f"batch prompt {i}", seed=i) for i in range(count)]


def client_for(api: str, sim: Simulator, clock: FakeClock) -> Client:
    provider = (
        GeminiProvider("sim-key", base_url=sim.base_url)
        if api == "gemini"
        else OpenAIProvider("sim-key", base_url=sim.base_url)
    )
    retry = RetryLayer(attempts=4, initial=0.01, max_delay=0.05)
    return Client(provider, [retry], clock=clock)


def runner(
    client: Client, work: list[Job], out: Path, *, size: int = 50, **options: Any
) -> BatchRunner:
    remote = remote_for(client, batch_size=size)
    remote.poll = PollPolicy(initial=30.0, max_delay=600.0)  # virtual time: no real waiting
    return BatchRunner(client, work, out, RunOptions(via="batch-api", **options), remote=remote)


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    return {e["id"]: e for e in map(json.loads, lines)}


@pytest.mark.parametrize("api", APIS)
async def test_a_batch_with_per_line_errors_maps_every_line_back(api: str, tmp_path: Path) -> None:
    work = jobs(120)
    clock = FakeClock()
    async with Simulator("flaky", failure_rate=1.0) as sim:  # live calls would all fail
        sim.batches.faults = BatchFaults(polls=3, line_errors=0.1, error_keys=frozenset({"b-7"}))
        async with client_for(api, sim, clock) as client:
            run = runner(client, work, tmp_path)
            outcomes = [o async for o in run.outcomes()]
        generated = Counter(r.prompt for r in sim.log if r.status == 200)
        assert {r.path.split("/")[1] for r in sim.log} == {"batches"}  # nothing went live
        assert sim.batches.created == 3  # 120 jobs, 50 per batch
    assert sorted(o.id for o in outcomes) == sorted(j.id for j in work)
    entries = manifest(tmp_path)
    failed = {k for k, e in entries.items() if e["status"] == "failed"}
    assert "b-7" in failed and 5 <= len(failed) <= 30
    for job in work:
        entry = entries[job.id]
        assert entry["via"] == "batch-api" and entry["batch_id"]
        if job.id in failed:
            assert entry["error"]["type"] in ("ProviderUnavailable", "RateLimited")
            assert generated[job.prompt] == 0
        else:
            assert entry["status"] == "done" and generated[job.prompt] == 1
            assert (tmp_path / entry["files"][0]).read_bytes().startswith(PNG)
            assert entry["usage"]["output_tokens"] > 0
    # Polled with backoff on the injected clock: 30 s, then 45 s, ...
    assert sorted(set(clock.slept))[:2] == [30.0, 45.0]
    assert run.tally.remote and all("/50" in v or "/20" in v for v in run.tally.remote.values())


@pytest.mark.parametrize("api", APIS)
async def test_an_expired_batch_reports_the_rest_and_retry_live_finishes_it(
    api: str, tmp_path: Path
) -> None:
    work = jobs(20)
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=1, outcome="expired")
        async with client_for(api, sim, FakeClock()) as client:
            tally = await runner(client, work, tmp_path, size=20).run()
            entries = manifest(tmp_path)
            expired = {k for k, e in entries.items() if e["status"] == "failed"}
            assert tally.done == 10 and len(expired) == 10  # the simulator did half
            assert {entries[k]["error"]["type"] for k in expired} == {"BatchJobFailed"}
            assert all("expired" in entries[k]["error"]["message"] for k in expired)

            # --retry-live: the expired ones go through the live pipeline, once each.
            sim.clear_log()
            again = await runner(client, work, tmp_path, retry_failed=True, retry_live=True).run()
            # A new batch was tried first (and expired again for half of them).
            assert sim.batches.created == 2
            live = [r for r in sim.log if not r.path.startswith("/batches/")]
            assert again.done == 10 and len(live) == 5
    assert {e["status"] for e in manifest(tmp_path).values()} == {"done"}
    assert {e["via"] for e in manifest(tmp_path).values()} == {"batch-api", "live"}


@pytest.mark.parametrize("api", APIS)
async def test_a_failed_batch_fails_its_jobs_with_a_typed_error(api: str, tmp_path: Path) -> None:
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=0, outcome="failed")
        async with client_for(api, sim, FakeClock()) as client:
            tally = await runner(client, jobs(5), tmp_path).run()
        assert not [r for r in sim.log if r.status == 200]
    assert tally.failed == 5
    errors = {e["error"]["type"] for e in manifest(tmp_path).values()}
    assert errors == {"BatchJobFailed"}


@pytest.mark.parametrize("api", APIS)
async def test_a_run_stopped_while_a_batch_runs_resumes_by_polling_it(
    api: str, tmp_path: Path
) -> None:
    work = jobs(30)
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=10_000)  # never finishes until told
        async with client_for(api, sim, FakeClock()) as client:
            first = asyncio.create_task(runner(client, work, tmp_path, size=30).run())
            while sim.batches.polls < 3:  # noqa: ASYNC110 - another server's counter
                await asyncio.sleep(0.001)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            journal = await Journal.open(tmp_path)
            assert set((await journal.states()).values()) == {"batched"}
            await journal.close()

            sim.batches.faults.polls = 0  # the provider finishes it meanwhile
            tally = await runner(client, work, tmp_path, size=30).run()
        assert sim.batches.created == 1  # polled, never resubmitted
        generated = Counter(r.prompt for r in sim.log if r.status == 200)
    assert tally.done == 30 and set(generated.values()) == {1}
    assert {e["status"] for e in manifest(tmp_path).values()} == {"done"}


async def test_live_runs_never_resend_jobs_waiting_in_a_batch(tmp_path: Path) -> None:
    work = jobs(10)
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=10_000)
        async with client_for("gemini", sim, FakeClock()) as client:
            first = asyncio.create_task(runner(client, work, tmp_path).run())
            while sim.batches.polls < 1:  # noqa: ASYNC110 - another server's counter
                await asyncio.sleep(0.001)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            tally = await BatchRunner(client, work, tmp_path).run()
        assert tally.held_uncertain == 10 and tally.done == 0
        assert not [r for r in sim.log if r.status == 200]


async def test_gemini_large_batches_go_through_an_uploaded_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genguard.batch import gemini_batch

    monkeypatch.setattr(gemini_batch, "INLINE_LIMIT", 1)  # force the file path
    async with Simulator("clean") as sim:
        async with client_for("gemini", sim, FakeClock()) as client:
            tally = await runner(client, jobs(8), tmp_path).run()
        assert sim.batches.uploads == 1 and tally.done == 8


@pytest.mark.parametrize("api", APIS)
async def test_batch_results_cost_half_of_the_same_job_live(api: str, tmp_path: Path) -> None:
    work = [Job(id="same", prompt="one prompt, two ways", seed=3)]
    async with Simulator("clean") as sim, client_for(api, sim, FakeClock()) as client:
        await BatchRunner(client, work, tmp_path / "live").run()
        await runner(client, work, tmp_path / "batch").run()
    live = manifest(tmp_path / "live")["same"]
    batch = manifest(tmp_path / "batch")["same"]
    assert live["usage"] == batch["usage"]
    assert live["cost"] > 0 and live["billing"] == "billed"
    assert batch["cost"] == pytest.approx(live["cost"] / 2)


@pytest.mark.parametrize("api", APIS)
async def test_edits_go_through_the_batch_api_with_their_input_images(
    api: str, tmp_path: Path
) -> None:
    from genguard.batch import read_jobs

    (tmp_path / "cat.png").write_bytes(PNG + b"fake image body")
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        json.dumps({"id": "edit-1", "prompt": "make it blue", "images": ["cat.png"]}) + "\n"
        + json.dumps({"id": "gen-1", "prompt": "a new kite"}) + "\n"
    )  # fmt: skip
    async with Simulator("clean") as sim, client_for(api, sim, FakeClock()) as client:
        tally = await runner(client, read_jobs(jobs_file), tmp_path / "out").run()
        bodies = [r.body for r in sim.log]
    assert tally.done == 2
    # OpenAI: one batch per endpoint (edits and generations); Gemini: one per model.
    assert sim.batches.created == (2 if api == "openai" else 1)
    sent = json.dumps(bodies)
    assert "image_url" in sent if api == "openai" else "inlineData" in sent


async def test_a_batch_gone_at_the_provider_fails_its_jobs_once(tmp_path: Path) -> None:
    work = jobs(6)
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=10_000)
        async with client_for("openai", sim, FakeClock()) as client:
            first = asyncio.create_task(runner(client, work, tmp_path).run())
            while sim.batches.polls < 1:  # noqa: ASYNC110 - another server's counter
                await asyncio.sleep(0.001)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            sim.batches.batches.clear()  # the provider lost it
            tally = await runner(client, work, tmp_path).run()
    assert tally.failed == 6 and sim.batches.created == 1
    entries = manifest(tmp_path).values()
    errors = {(e["error"]["type"], "gone" in e["error"]["message"]) for e in entries}
    assert errors == {("BatchJobFailed", True)}
