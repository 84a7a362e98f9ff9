"""A real ``redis-server`` for tests: 127.0.0.1, a free port, a temp dir, no persistence.

Started and stopped by pid (never by name), so tests never touch another Redis
on the machine. ``kill()`` simulates a crash (SIGKILL), ``restart()`` brings a
fresh, empty server back on the same port, ``freeze()``/``thaw()`` (SIGSTOP /
SIGCONT) make it accept connections but never answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; ``url`` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="genguard-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.process is not None and self.process.poll() is None:
            return self
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--loglevel", "warning",
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.01)
        return self

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """Crash it (SIGKILL by pid) and wait until it is gone."""
        if self.process is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> RedisServer:
        """A fresh, empty server on the same port."""
        self.kill()
        return self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but nothing answers."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop by pid (SIGTERM, then SIGKILL) and remove the temp dir."""
        process = self.process
        if process is not None and process.poll() is None:
            self._signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.process = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["REDIS_SERVER", "RedisServer", "free_port"]
