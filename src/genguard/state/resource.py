"""One way to own a store: ``async with`` it, or hand it to an ``AsyncExitStack``.

Every store releases what it holds (connections, background work) in one
explicit ``async def aclose()``; this base makes that method its async context
manager too, so whoever builds a store owns it with the standard tools rather
than probing for ``start``/``close``/``aclose``.
"""

from __future__ import annotations

from typing import Self


class AsyncResource:
    """Base of the stores: ``async with store:`` closes it with ``aclose()`` on the way out."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the store holds. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


__all__ = ["AsyncResource"]
