"""Lifecycle, standalone serving, the CLI entry point, and counters-only mode."""

from __future__ import annotations

import asyncio
import re
import sys

import aiohttp
import pytest

from genguard.sim import Reply, Simulator, serve
from support import until

from .conftest import post_gemini


async def test_base_url_needs_a_running_server() -> None:
    sim = Simulator()
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    async with sim:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
        with pytest.raises(RuntimeError):
            await sim.start()
    await sim.stop()  # idempotent


async def test_two_simulators_get_different_ports() -> None:
    async with Simulator() as a, Simulator() as b:
        assert a.base_url != b.base_url


async def test_stop_does_not_wait_for_a_stalled_request(http: aiohttp.ClientSession) -> None:
    sim = Simulator()
    await sim.start()
    sim.script("gemini", [Reply.delay(30)])
    pending = asyncio.ensure_future(post_gemini(http, sim.base_url))
    await until(lambda: sim.pending_scripts() == 0, "the request to reach its delay")
    await asyncio.wait_for(sim.stop(), 25)  # well before the 30-s delay ends
    with pytest.raises(aiohttp.ClientError):
        await pending


async def test_record_false_keeps_counters_only(http: aiohttp.ClientSession) -> None:
    async with Simulator(record=False) as sim:
        sim.script("gemini", [Reply.status(503)])
        for _ in range(3):
            await post_gemini(http, sim.base_url)
        assert sim.log == [] and sim.requests == 3
        assert sim.status_counts == {503: 1, 200: 2}


async def test_serve_runs_until_cancelled(http: aiohttp.ClientSession) -> None:
    lines: list[str] = []
    ready = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        ready.set()

    task = asyncio.create_task(serve("127.0.0.1", 0, "clean", announce=announce))
    await asyncio.wait_for(ready.wait(), 10)
    url = lines[0].rsplit(" ", 1)[1]
    assert (await post_gemini(http, url))[0] == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await post_gemini(http, url)


async def test_module_cli_prints_the_url_and_serves(http: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "genguard.sim",
        "--port",
        "0",
        "--profile",
        "flaky",
        "-o",
        "failure_rate=1.0",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        status, _, _ = await post_gemini(http, match.group(0))
        assert status in (429, 503)
    finally:
        proc.terminate()
        await proc.wait()


def test_cli_option_parsing() -> None:
    from genguard.sim.__main__ import build_parser

    args = build_parser().parse_args(
        [
            "--profile",
            "httpdate",
            "-o",
            "failure_rate=0.5",
            "-o",
            "forms=imf,asctime",
            "-o",
            'x=["a"]',
        ]
    )
    assert dict(args.option) == {"failure_rate": 0.5, "forms": "imf,asctime", "x": ["a"]}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["-o", "novalue"])
