"""Blocking calls for scripts and notebooks: ``genguard.generate("a fox").save("fox.png")``.

genguard is asyncio inside. ``SyncClient`` runs an async client on an event loop
of its own, in a daemon thread it starts and stops, so it works the same in a
plain script and in a notebook whose loop is already running (where
``asyncio.run`` refuses). Ctrl-C while a call waits cancels that call.

``generate`` is the one-liner: a client from a policy file or the environment
(see ``genguard.profiles.default_client``), one call, closed again.
``agenerate`` is the same for async code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from .model import GenerationRequest, GenerationResult, RequestFields

if TYPE_CHECKING:
    from .pipeline import Client

T = TypeVar("T")


class SyncClient:
    """A ``Client`` with blocking methods. Build it from a client factory, so the
    client is made inside its loop: ``SyncClient(lambda: production_client("gemini"))``
    or ``from_profile``.

    Close it (``with SyncClient(...) as client:``, or ``close()``); the loop thread
    is a daemon, so a forgotten client does not keep the interpreter alive.
    """

    def __init__(self, factory: Callable[[], Client]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="genguard-sync", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            self.client: Client = self._run(_make(factory))
        except BaseException:
            self._stop()
            raise

    @classmethod
    def from_profile(
        cls,
        name: str | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        api: str | None = None,
        simulator: str | None = None,
    ) -> SyncClient:
        """A shipped profile (or ``config``'s profile ``name``); see ``default_client``."""
        from .profiles import default_client

        return cls(
            lambda: default_client(config=config, profile=name, api=api, simulator=simulator)
        )

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise
        except concurrent.futures.CancelledError:
            raise asyncio.CancelledError() from None

    def generate(
        self, request: GenerationRequest | str, **fields: Unpack[RequestFields]
    ) -> GenerationResult:
        """``Client.generate``, blocking until the result (or error) is in."""
        if self._closed:
            raise RuntimeError("SyncClient is closed")
        return self._run(self.client.generate(request, **fields))

    def close(self) -> None:
        """Close the client (its HTTP session, simulator, stores) and stop the loop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self.client.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SyncClient({self.client!r}, {state})"


async def _make(factory: Callable[[], Client]) -> Client:
    client = factory()
    await client.__aenter__()
    return client


async def agenerate(
    prompt: GenerationRequest | str,
    *,
    profile: str | None = None,
    config: str | os.PathLike[str] | None = None,
    api: str | None = None,
    simulator: str | None = None,
    **fields: Unpack[RequestFields],
) -> GenerationResult:
    """One generation with a client made for it (see ``generate``), for async code."""
    from .profiles import default_client

    client = default_client(config=config, profile=profile, api=api, simulator=simulator)
    async with client:
        return await client.generate(prompt, **fields)


def generate(
    prompt: GenerationRequest | str,
    *,
    profile: str | None = None,
    config: str | os.PathLike[str] | None = None,
    api: str | None = None,
    simulator: str | None = None,
    **fields: Unpack[RequestFields],
) -> GenerationResult:
    """One image, blocking: ``genguard.generate("a red fox", seed=0).save("fox.png")``.

    The policy comes from ``config`` (or ``$GENGUARD_CONFIG``) and its ``profile``,
    else from the shipped production profile of whichever key is set
    (``GEMINI_API_KEY``, ``OPENAI_API_KEY``), or of ``api``. ``simulator="clean"``
    (or another fault profile) runs the same policy against the embedded simulator.
    Each call opens and closes its own client; for many calls keep a ``SyncClient``.
    """
    from .profiles import default_client

    with SyncClient(
        lambda: default_client(config=config, profile=profile, api=api, simulator=simulator)
    ) as client:
        return client.generate(prompt, **fields)


__all__ = ["SyncClient", "agenerate", "generate"]
