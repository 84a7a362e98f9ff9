"""Request capture: every request exactly as it arrived (method, path, headers, body).

The request log (``sim.log``) keeps what the simulator understood of a request; a test
of a client's wire format needs what was sent. ``Simulator(capture=True)`` keeps each
request's raw bytes in ``sim.captured`` (a ``Capture``), in arrival order, before the
simulator answers, so a request the simulator rejects is captured too.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict, CIMultiDictProxy

from .replies import Reply
from .wire import encode_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a ``multipart/form-data`` body."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Captured:
    """One request as it arrived: ``path`` includes the query string."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)

    def form(self) -> list[FormPart]:
        """The parts of a multipart body, in order (empty when it is not multipart)."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            return []
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        message = email.message_from_bytes(head + self.body, policy=email.policy.HTTP)
        parts = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            parts.append(
                FormPart(
                    name=part.get_param("name", header="content-disposition"),  # type: ignore[arg-type]
                    filename=part.get_filename(),
                    content_type=part.get("Content-Type"),
                    data=payload if isinstance(payload, bytes) else b"",
                )
            )
        return parts


class Capture:
    """The captured requests, in arrival order; ``await wait(n)`` until n have arrived."""

    def __init__(self) -> None:
        self._items: list[Captured] = []
        self._arrived = asyncio.Event()

    def add(self, item: Captured) -> None:
        self._items.append(item)
        self._arrived.set()

    async def wait(self, count: int = 1) -> Captured:
        """The ``count``-th request, once it has arrived."""
        while len(self._items) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return self._items[count - 1]

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Captured]:
        return iter(list(self._items))

    def __getitem__(self, index: int) -> Captured:
        return self._items[index]

    def __repr__(self) -> str:
        return f"Capture({len(self._items)} requests)"


def capture_middleware(capture: Capture) -> Middleware:
    """An aiohttp middleware that records each request into ``capture`` first.

    It reads the whole body (``request.read()`` caches it, so the handlers read the
    same bytes again).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        capture.add(Captured(request.method, request.path_qs, _frozen(request), body))
        return await handler(request)

    return middleware


def _frozen(request: web.Request) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(request.headers))


def render_plain(reply: Reply) -> web.Response:
    """A scripted reply on a route with no API envelope (image downloads): ``Reply.raw``
    and ``Reply.fixture`` verbatim, ``Reply.status`` as its status with its body."""
    if reply.kind == "fixture":
        headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
        return web.Response(status=reply.code, body=encode_body(reply.body), headers=headers)
    if reply.kind == "status":
        body = reply.body if reply.body is not None else (reply.message or "")
        return web.Response(status=reply.code, body=encode_body(body), headers=dict(reply.headers))
    raise ValueError(f"a {reply.kind!r} reply cannot answer an image download")


__all__ = ["Capture", "Captured", "FormPart", "capture_middleware", "render_plain"]
