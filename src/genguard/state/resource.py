"""One way to own a resource: ``async with`` it, or hand it to an ``AsyncExitStack``.

Everything that holds something to release (a store's connections, a layer's
background work, an embedded simulator, a metrics server) is an async context
manager, the one protocol its owner relies on: a store, a layer or a provider
releases in one explicit ``async def aclose()``, and this base makes that method its
``__aexit__``. Owners (the build context, the client, fallback) push resources on an
``AsyncExitStack`` rather than probing for ``start``/``close``/``aclose``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Self


class AsyncResource:
    """Base of the stores: ``async with store:`` closes it with ``aclose()`` on the way out."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the store holds. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


#: The protocol: what an owner can close with ``AsyncExitStack.push_async_exit``.
Resource = AbstractAsyncContextManager[Any]


async def close_all(parts: Iterable[object]) -> None:
    """Close, last first, every part that is a resource (an async context manager);
    the others hold nothing to release. Every one is closed even if one fails."""
    async with AsyncExitStack() as stack:
        for part in parts:
            if isinstance(part, AbstractAsyncContextManager):
                stack.push_async_exit(part)


__all__ = ["AsyncResource", "Resource", "close_all"]
