"""The transport's connect and read timeouts, against real sockets on 127.0.0.1.

Each server stalls for far longer than the timeout under test (a minute against a
fraction of a second), so what is asserted is which error comes out and what it says,
never how long it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import aiohttp
import pytest

from genguard import Client
from genguard.errors import AttemptTimeout
from genguard.providers.transport import HttpTransport
from genguard.sim import Reply, Simulator
from support import provider_for, until

STALL = 60.0


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose listen queue is full: the kernel drops new SYNs, so connecting hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for s in [*fillers, server]:
            s.close()


async def test_connect_timeout_is_an_attempt_timeout_that_says_connecting() -> None:
    transport = HttpTransport(connect_timeout=0.2, read_timeout=30)
    with unanswered_port() as port, pytest.raises(AttemptTimeout) as info:
        await transport.request(
            "POST", f"http://127.0.0.1:{port}/v1/x", headers={}, provider="gemini"
        )
    await transport.aclose()
    error = info.value
    assert error.retryable
    assert "connecting" in str(error) and error.timeout == 0.2  # not the read timeout
    assert isinstance(error.__cause__, aiohttp.ConnectionTimeoutError)


@pytest.mark.parametrize("before", ["headers", "body"])
async def test_read_timeout_fires_before_the_headers_and_mid_body(before: str) -> None:
    transport = HttpTransport(connect_timeout=5, read_timeout=0.2)
    async with Simulator() as sim:
        sim.script("gemini", [Reply.delay(STALL, before=before)])  # type: ignore[arg-type]
        async with Client(provider_for("gemini", sim.base_url), transport=transport) as client:
            with pytest.raises(AttemptTimeout) as info:
                await client.generate("a lighthouse")
            assert "reading the response" in str(info.value) and info.value.timeout == 0.2
            session = transport.session
            assert session is not None and session.connector is not None
            assert not session.connector._acquired  # the stalled connection was let go
            assert (await client.generate("a lighthouse")).images  # and the next call works
        if before == "headers":  # the server saw the client give up mid-delay
            await until(lambda: 499 in sim.status_counts, "the server to record the 499")
    await transport.aclose()


async def test_no_read_timeout_waits_for_a_slow_answer() -> None:
    """``read_timeout=None`` leaves the bound to the timeout layer: a slow answer arrives."""
    transport = HttpTransport(read_timeout=None)
    async with Simulator() as sim:
        sim.script("gemini", [Reply.delay(0.3)])
        async with Client(provider_for("gemini", sim.base_url), transport=transport) as client:
            assert (await asyncio.wait_for(client.generate("a lighthouse"), STALL)).images
    await transport.aclose()
