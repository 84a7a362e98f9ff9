"""``genguard batch`` as users run it: real processes, killed with SIGKILL and restarted,
against a simulator in this process whose log counts every generation."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest

from genguard.sim import Reply, Simulator

pytestmark = pytest.mark.slow  # starts genguard processes
ROOT = Path(__file__).resolve().parents[2]


def write_jobs(path: Path, count: int) -> dict[str, str]:
    prompts = {f"job-{i}": f"a lighthouse, variation {i}" for i in range(count)}
    path.write_text("".join(json.dumps({"id": k, "prompt": p}) + "\n" for k, p in prompts.items()))
    return prompts


def write_config(path: Path, base_url: str, *, attempts: int = 6, extra: str = "") -> Path:
    path.write_text(
        f"""version: 1
profiles:
  default:
    provider: {{type: gemini, api_key: "${{GENGUARD_SIM_KEY}}", base_url: "{base_url}"}}
    deadline: 60s
    layers:
      - retry: {{attempts: {attempts}, backoff: {{initial: 1ms, max: 10ms}}, max_retry_after: 1s}}
      - timeout: {{attempt: 30s}}
{extra}"""
    )
    return path


async def genguard(*args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("GENGUARD_CONFIG", None)
    env["GENGUARD_SIM_KEY"] = "sim-key"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "genguard.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def journal_states(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / "journal.sqlite3") as conn:
        return dict(conn.execute("SELECT id, state FROM jobs"))


async def test_a_killed_run_resumes_without_generating_anything_twice(tmp_path: Path) -> None:
    prompts = write_jobs(tmp_path / "jobs.jsonl", 300)
    out = tmp_path / "out"
    async with Simulator("slow", fraction=1.0, delay=0.01) as sim:
        config = write_config(tmp_path / "genguard.yaml", sim.base_url)
        command = ("batch", "run", str(tmp_path / "jobs.jsonl"), "--out", str(out),
                   "--config", str(config), "--concurrency", "8", "--progress", "none")  # fmt: skip
        proc = await genguard(*command)
        while sum(1 for r in sim.log if r.status == 200) < 100:
            assert proc.returncode is None, (await proc.communicate())[1].decode()
            await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # the process, not a task: no cleanup runs
        await proc.wait()
        first_run = len(sim.log)

        killed = journal_states(out)
        assert Counter(killed.values())["done"] >= 90
        assert not (out / "manifest.jsonl").exists()  # it died before writing one

        code, stdout, stderr = await finish(await genguard(*command))
        second = sim.log[first_run:]
        resumed = journal_states(out)
        uncertain = {k for k, v in resumed.items() if v == "uncertain"}
        assert set(resumed.values()) <= {"done", "uncertain"}, stderr
        assert len(uncertain) <= 8  # at most the jobs in flight when it died
        assert code == (1 if uncertain else 0), stderr
        done_before = sum(1 for v in killed.values() if v == "done")
        assert f"{done_before} resumed as done" in stdout
        assert f"uncertain {len(uncertain)} held back" in stdout

        generated = Counter(r.prompt for r in sim.log if r.status == 200)
        sent_again = Counter(r.prompt for r in second)
        for job_id, prompt in prompts.items():
            if killed[job_id] == "done":
                assert sent_again[prompt] == 0, job_id  # never asked for again
            if resumed[job_id] == "done":
                assert generated[prompt] == 1, job_id  # generated exactly once overall
            else:
                assert sent_again[prompt] == 0 and generated[prompt] <= 1, job_id

        entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        assert [e["id"] for e in entries] == list(prompts)
        assert {e["id"] for e in entries if e["status"] == "uncertain"} == uncertain

        # The policy says resubmit: the uncertain jobs are sent once more, nothing else is.
        third_run = len(sim.log)
        code, stdout, _ = await finish(await genguard(*command, "--resubmit-uncertain"))
        assert code == 0
        assert Counter(r.prompt for r in sim.log[third_run:]) == Counter(
            prompts[j] for j in uncertain
        )
    assert set(journal_states(out).values()) == {"done"}
    assert len(list((out / "images").glob("*.png"))) == 300


async def test_status_and_retry_failed_work_from_the_journal(tmp_path: Path) -> None:
    prompts = write_jobs(tmp_path / "jobs.jsonl", 30)
    out = tmp_path / "out"
    async with Simulator("clean") as sim:
        sim.script("gemini", [Reply.status(400, message="unsupported field")] * 4)
        config = write_config(tmp_path / "genguard.yaml", sim.base_url, attempts=1)
        code, stdout, stderr = await finish(
            await genguard(
                "batch",
                "run",
                str(tmp_path / "jobs.jsonl"),
                "--out",
                str(out),
                "--config",
                str(config),
                "--concurrency",
                "1",
                "--progress",
                "plain",
                "--interval",
                "0.01",
            )
        )
        assert code == 1
        assert "failed    4 (4 now)" in stdout
        assert "batch: " in stderr  # plain progress lines when not on a terminal
        failed = {k for k, v in journal_states(out).items() if v == "failed"}
        assert len(failed) == 4

        code, stdout, _ = await finish(await genguard("batch", "status", str(out)))
        assert code == 0
        assert "done      26" in stdout and "failed    4" in stdout
        assert "BadRequest" in stdout

        sim.clear_log()
        code, stdout, _ = await finish(
            await genguard("batch", "retry", str(out), "--failed", "--config", str(config))
        )
        assert code == 0, stdout
        assert sorted(r.prompt for r in sim.log) == sorted(prompts[j] for j in failed)
    assert set(journal_states(out).values()) == {"done"}


async def test_a_bad_job_file_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "jobs.jsonl").write_text('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n')
    code, _, stderr = await finish(
        await genguard("batch", "run", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "o"))
    )
    assert code == 2
    assert (
        stderr.strip().splitlines()[-1].endswith("jobs.jsonl:2: duplicate id 'a' (first on line 1)")
    )
    assert "Traceback" not in stderr


async def test_the_demo_ends_by_pointing_at_the_batch_page() -> None:
    import io

    from genguard.demo import run_demo

    out = io.StringIO()
    await run_demo(profile="clean", calls=2, concurrency=2, out=out)
    assert out.getvalue().rstrip().splitlines()[-1].endswith("docs/batch.md")
    assert (ROOT / "docs" / "batch.md").exists()


async def test_batch_api_run_killed_while_the_batch_runs_polls_it_on_restart(
    tmp_path: Path,
) -> None:
    from genguard.sim.batch import BatchFaults

    prompts = write_jobs(tmp_path / "jobs.jsonl", 40)
    out = tmp_path / "out"
    async with Simulator("clean") as sim:
        sim.batches.faults = BatchFaults(polls=1_000_000, line_errors=0.0)
        config = tmp_path / "genguard.yaml"
        config.write_text(
            "version: 1\nprofiles:\n  default:\n    provider: {type: openai, api_key: "
            f'"${{GENGUARD_SIM_KEY}}", base_url: "{sim.base_url}"}}\n'
        )
        command = ("batch", "run", str(tmp_path / "jobs.jsonl"), "--out", str(out),
                   "--config", str(config), "--via", "batch-api", "--poll", "0.01",
                   "--progress", "none")  # fmt: skip
        proc = await genguard(*command)
        while sim.batches.polls < 3:
            assert proc.returncode is None, (await proc.communicate())[1].decode()
            await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        assert set(journal_states(out).values()) == {"batched"}

        sim.batches.faults.polls = 0  # the provider finished it while we were down
        code, _stdout, stderr = await finish(await genguard(*command))
        assert code == 0, stderr
        assert sim.batches.created == 1 and sim.batches.uploads == 1  # polled, not resubmitted
        generated = Counter(r.prompt for r in sim.log if r.status == 200)
    assert generated == Counter(prompts.values())
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {e["via"] for e in entries} == {"batch-api"} and {e["status"] for e in entries} == {
        "done"
    }


async def test_sim_json_and_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "jobs.csv").write_text("prompt\na red kite\na blue kite\n")
    out = tmp_path / "out"
    code, _, stderr = await finish(
        await genguard("batch", "run", str(tmp_path / "jobs.csv"), "--out", str(out))
    )
    assert code == 2 and "GEMINI_API_KEY" in stderr  # no key, no --sim: says how to go on
    code, stdout, stderr = await finish(
        await genguard(
            "--json",
            "batch",
            "run",
            str(tmp_path / "jobs.csv"),
            "--out",
            str(out),
            "--sim",
            "--progress",
            "none",
        )
    )
    assert code == 0, stderr
    assert "simulator" in stderr
    summary = json.loads(stdout)
    assert summary["ok"] and summary["done"] == 2 and summary["jobs"] == 2
    assert sorted(p.name for p in (out / "images").iterdir()) == ["row-1.png", "row-2.png"]
    code, stdout, _ = await finish(await genguard("--json", "batch", "status", str(out)))
    assert code == 0 and json.loads(stdout)["states"] == {"done": 2}
