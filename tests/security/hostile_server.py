"""A hostile HTTP server of the tests' own: redirects, echoes keys, stalls; records requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HostileServer:
    """Serves ``behaviour`` for every request on 127.0.0.1 (a free port), recording each one."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or (lambda request: json_reply({}))
        self.seen: list[Seen] = []
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        return await self.behaviour(request)

    async def __aenter__(self) -> HostileServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def stall(self, request: web.Request) -> web.StreamResponse:
        """Answer only when the test sets ``release`` (or the server stops)."""
        await self.release.wait()
        return await json_reply({})


async def json_reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body), content_type="application/json")


def redirect_to(url: str, status: int = 307) -> Behaviour:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"location": url})

    return behaviour
