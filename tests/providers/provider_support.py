"""Test support for the providers: a tiny replay server on 127.0.0.1.

It serves canned ``{"status","headers","body"}`` responses (the reference fixtures or
hand-written ones) and records every request it receives.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

import support
from genguard.model import Call, GenerationRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"

#: The 1x1 PNG used throughout the reference fixtures.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG = base64.b64decode(PNG_B64)
GEMINI_KEY = "AIzaSyTEST-not-a-real-key-0123456789abcd"
OPENAI_KEY = "sk-test-not-a-real-key-0123456789abcdef"


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def queue_fixture(replay: ReplayServer, name: str) -> dict[str, Any]:
    """Queue fixture ``name`` on ``replay`` (then a PNG for any image download); return it.

    The dall-e fixture's image URL is pointed at the replay server, which serves the PNG.
    """
    data = load_fixture(name)
    body = data["body"]
    if name == "openai_200_dalle3_url.json":
        body = {**body, "data": [{**body["data"][0], "url": f"{replay.base_url}/img/fox.png"}]}
    replay.reply(data["status"], data["headers"], body)
    replay.reply(200, {"content-type": "image/png"}, PNG)
    return data


def response_fixture_names() -> list[str]:
    """Every response fixture (``{"status","headers","body"}``), by file name."""
    names = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and {"status", "headers", "body"} <= data.keys():
            names.append(path.name)
    return names


@dataclass
class Recorded:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    form: list[dict[str, Any]] | None = None

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Canned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # dict/list → JSON; str → text; bytes → raw
    handler: Handler | None = None


class ReplayServer:
    """Replays queued responses in order (the last one repeats) and records requests."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: list[Canned] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        #: Set when the server stops, so handlers that hang on purpose can return.
        self.closing = asyncio.Event()

    def reply(
        self, status: int = 200, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        self._queue.append(Canned(status, dict(headers or {}), body))

    def reply_fixture(self, name: str) -> dict[str, Any]:
        data = load_fixture(name)
        self.reply(data["status"], data["headers"], data["body"])
        return data

    def reply_with(self, handler: Handler) -> None:
        self._queue.append(Canned(handler=handler))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        form: list[dict[str, Any]] | None = None
        if request.content_type.startswith("multipart/"):
            form = await _read_multipart(request, raw)
        self.requests.append(
            Recorded(request.method, request.path_qs, CIMultiDict(request.headers), raw, form)
        )
        canned = self._queue.pop(0) if len(self._queue) > 1 else self._queue[0]
        if canned.handler is not None:
            return await canned.handler(request)
        body = canned.body
        headers = {k: v for k, v in canned.headers.items() if k.lower() != "content-length"}
        if isinstance(body, dict | list):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = body
        return web.Response(status=canned.status, headers=headers, body=data)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()


async def _read_multipart(request: web.Request, raw: bytes) -> list[dict[str, Any]]:
    """Parse a recorded multipart body again (the stream was already read)."""
    from aiohttp import BodyPartReader, MultipartReader
    from aiohttp.streams import StreamReader

    protocol = request.protocol
    stream = StreamReader(protocol, limit=2**16, loop=asyncio.get_running_loop())
    stream.feed_data(raw)
    stream.feed_eof()
    reader = MultipartReader(request.headers, stream)
    parts: list[dict[str, Any]] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        assert isinstance(part, BodyPartReader)
        data = await part.read()
        parts.append(
            {
                "name": part.name,
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "data": bytes(data),
            }
        )
    return parts


def make_call(request: GenerationRequest, *, provider: str, model: str) -> Call:
    return support.make_call(
        request=request, provider=provider, model=model, generation_id="gen-test"
    )
