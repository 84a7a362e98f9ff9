"""What genguard does with hostile input: each case ends in a typed error, at once.

Runs without API keys, in about a second, against the embedded simulator and a
small redirecting server of its own:

    python examples/hostile_input.py

1. a request with absurd numbers or a lone surrogate is refused before anything
   is booked or sent (``InvalidRequest``);
2. a saved conversation naming ``/etc/passwd`` (or a FIFO, or a symlink out of
   its folder) is refused, and nothing is read;
3. a provider that redirects to another host never receives the key there;
4. a server that never answers cannot hold a call past its deadline, even in a
   stack with no retry or timeout layer.
"""

from __future__ import annotations

import asyncio
import json
import tempfile

from aiohttp import web

from genguard import Client, GenerationRequest
from genguard.conversation import Conversation
from genguard.errors import DeadlineExceeded, GenGuardError, InvalidRequest, ProviderError
from genguard.providers.gemini import GeminiProvider
from genguard.sim import Reply, Simulator


async def bad_requests() -> None:
    for fields in ({"n": 10**9}, {"token_estimate": float("inf")}, {"prompt": "a \ud800 cat"}):
        try:
            GenerationRequest(**{"prompt": "a cat", **fields})  # type: ignore[arg-type]
        except InvalidRequest as error:
            print(f"1. refused {error.field}: {error}")


async def conversation_files(client: Client) -> None:
    turns = [{"role": "model", "parts": [{"image": {"file": "../../../../etc/passwd"}}]}]
    document = json.dumps({"version": 1, "turns": turns})
    with tempfile.TemporaryDirectory() as folder:
        try:
            Conversation.from_json(client, document, image_dir=folder)
        except InvalidRequest as error:
            print(f"2. {error}")


async def redirect_elsewhere() -> None:
    stolen: list[str] = []

    async def thief(request: web.Request) -> web.Response:
        stolen.append(request.headers.get("x-goog-api-key", ""))
        return web.json_response({})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{thief_url}/steal")

    runners = []
    urls = []
    for handler in (thief, redirect):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
    thief_url, origin_url = urls
    try:
        async with Client(GeminiProvider("the-real-key", base_url=origin_url)) as client:
            await client.generate("a cat")
    except ProviderError as error:
        print(f"3. {type(error).__name__} (HTTP {error.status}); the other host got {stolen}")
    finally:
        for runner in runners:
            await runner.cleanup()


async def stalled_server() -> None:
    async with Simulator() as sim:
        sim.script("gemini", [Reply.delay(30)])
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, deadline=0.3) as client:  # no retry, no timeout layer
            try:
                await client.generate("a cat")
            except DeadlineExceeded as error:
                print(f"4. {type(error).__name__}: {error}")


async def main() -> None:
    await bad_requests()
    async with Client(GeminiProvider("sim-key", base_url="http://127.0.0.1:9")) as client:
        await conversation_files(client)
    await redirect_elsewhere()
    await stalled_server()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except GenGuardError as error:  # every case above is handled; this would be a bug
        raise SystemExit(f"unexpected: {error!r}") from error
