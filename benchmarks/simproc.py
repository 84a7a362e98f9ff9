"""The simulator in its own process, driven over a pipe, so the client's CPU is measured alone.

``python -m benchmarks.simproc`` hosts any number of ``genguard.sim.Simulator``
instances (each on its own free port of 127.0.0.1) and answers one JSON command
per stdin line with one JSON line on stdout. It exists instead of a plain
``python -m genguard.sim`` because the benchmarks need what only the simulator
knows (upstream request counts, Retry-After violations, the busiest 1-s window)
and need to switch profiles between runs without restarting.

Commands (``op``): ``start`` (profile, options, seed, record, count) -> urls and
indices; ``profile`` (index, name, options) switches a profile and clears its
log; ``clear``; ``stats`` (index, window) -> requests, statuses, violations,
max_in_window; ``cpu`` -> this process's CPU seconds; ``stop`` (index); ``quit``.

The parent side is ``SimProcess``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from genguard.sim import Simulator

#: The repository root: where ``python -m benchmarks...`` children must run.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env() -> dict[str, str]:
    """This process's environment with the repository root on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


class _Host:
    """The simulators of this process, by index."""

    def __init__(self) -> None:
        self.sims: dict[int, Simulator] = {}
        self._next = 0

    async def handle(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "start":
            out: list[dict[str, Any]] = []
            for _ in range(int(cmd.get("count", 1))):
                sim = Simulator(
                    str(cmd.get("profile", "clean")),
                    seed=int(cmd.get("seed", 0)),
                    record=bool(cmd.get("record", True)),
                    **dict(cmd.get("options") or {}),
                )
                await sim.start()
                index = self._next
                self._next += 1
                self.sims[index] = sim
                out.append({"index": index, "url": sim.base_url})
            return {"sims": out}
        if op == "profile":
            for sim in self._select(cmd):
                sim.set_profile(str(cmd["name"]), **dict(cmd.get("options") or {}))
                sim.clear_log()
            return {}
        if op == "clear":
            for sim in self._select(cmd):
                sim.clear_log()
            return {}
        if op == "stats":
            window = float(cmd.get("window", 1.0))
            stats = []
            for sim in self._select(cmd):
                stats.append(
                    {
                        "requests": sim.requests,
                        "statuses": {str(k): v for k, v in sim.status_counts.items()},
                        "violations": sim.retry_after_violations,
                        "max_in_window": sim.max_in_window(window) if sim.record else None,
                        "max_ok_in_window": sim.max_in_window(window, statuses=(200,))
                        if sim.record
                        else None,
                        "first": min((r.time for r in sim.log), default=None),
                        "last": max((r.time for r in sim.log), default=None),
                    }
                )
            return {"stats": stats}
        if op == "cpu":
            return {"cpu": time.process_time()}
        if op == "stop":
            for index in self._indices(cmd):
                sim = self.sims.pop(index)
                await sim.stop()
            return {}
        raise ValueError(f"unknown op {op!r}")

    def _indices(self, cmd: Mapping[str, Any]) -> list[int]:
        index = cmd.get("index")
        if index is None:
            return sorted(self.sims)
        if isinstance(index, list):
            return [int(i) for i in index]
        return [int(index)]

    def _select(self, cmd: Mapping[str, Any]) -> list[Simulator]:
        return [self.sims[i] for i in self._indices(cmd)]

    async def close(self) -> None:
        for sim in self.sims.values():
            await sim.stop()
        self.sims.clear()


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    host = _Host()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                return
            try:
                reply: dict[str, Any] = {"ok": True, **(await host.handle(cmd))}
            except Exception as exc:  # report, keep serving
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await host.close()


class SimProcess:
    """Parent side: start ``python -m benchmarks.simproc`` and send it commands."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> SimProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.simproc",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
            cwd=ROOT,
            limit=1 << 22,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("the simulator process is not running")
        async with self._lock:
            proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
            await proc.stdin.drain()
            line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process exited")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"simulator command {op} failed: {reply.get('error')}")
        return reply

    async def start(
        self,
        profile: str = "clean",
        *,
        count: int = 1,
        record: bool = True,
        seed: int = 0,
        **options: Any,
    ) -> list[tuple[int, str]]:
        """Start ``count`` simulators; returns (index, base_url) for each."""
        reply = await self.command(
            "start", profile=profile, count=count, record=record, seed=seed, options=options
        )
        return [(int(s["index"]), str(s["url"])) for s in reply["sims"]]

    async def set_profile(self, index: int | list[int], name: str, **options: Any) -> None:
        await self.command("profile", index=index, name=name, options=options)

    async def stats(self, index: int, window: float = 1.0) -> dict[str, Any]:
        reply = await self.command("stats", index=index, window=window)
        result: dict[str, Any] = reply["stats"][0]
        return result

    async def cpu(self) -> float:
        """CPU seconds the simulator process has used so far."""
        return float((await self.command("cpu"))["cpu"])

    async def stop(self, index: int | list[int]) -> None:
        await self.command("stop", index=index)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(b'{"op": "quit"}\n')
                await proc.stdin.drain()
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
