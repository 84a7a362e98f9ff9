"""A real provider pointed at an embedded simulator, started on first use.

What a policy file's ``provider: {type: sim}`` builds: the real wire adapter
(``GeminiProvider``, ``OpenAIProvider``...) sending to a simulator that the client
starts and stops. The simulator is made by the ``make_simulator`` the builder hands
over, so this module needs neither the simulator nor the config package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..model import Call, GenerationResult
from ..state.resource import AsyncResource
from .base import Provider
from .transport import HttpTransport

if TYPE_CHECKING:
    from .event_stream import StreamProgress

#: The key the simulator-backed provider sends: the simulator accepts any but this one's
#: shape, and it is plainly not a real key.
SIM_KEY = "sim-not-a-real-key"


class SimBackedProvider(AsyncResource):
    """``cls`` (a provider class) sending to the simulator ``make_simulator()`` returns.

    ``name`` and ``model`` are known up front (partition keys need them); the
    simulator starts on ``start()`` (the client's ``__aenter__``) or lazily on the
    first ``send``, and stops on ``aclose``.
    """

    def __init__(
        self,
        cls: Callable[..., Provider],
        *,
        name: str,
        model: str,
        profile: str,
        make_simulator: Callable[[], Any],
        catalogue: Any = None,
    ) -> None:
        self._cls = cls
        self._catalogue = catalogue
        self.name = name
        self.model = model
        self.profile = profile
        self._make_simulator = make_simulator
        self._sim: Any = None
        self._inner: Provider | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def simulator(self) -> Any:
        """The running Simulator (None before start)."""
        return self._sim

    async def start(self) -> None:
        if self._inner is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._inner is not None:
                return
            sim = self._make_simulator()
            await sim.__aenter__()
            self._sim = sim
            self._inner = self._cls(
                SIM_KEY, model=self.model, base_url=str(sim.base_url), catalogue=self._catalogue
            )

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        if self._inner is None:
            await self.start()
        assert self._inner is not None
        return await self._inner.send(call, transport)

    async def stream(
        self, call: Call, transport: HttpTransport, progress: StreamProgress
    ) -> GenerationResult:
        """A streamed attempt on the simulator (see ``genguard.streaming``)."""
        if self._inner is None:
            await self.start()
        inner: Any = self._inner
        result: GenerationResult = await inner.stream(call, transport, progress)
        return result

    async def aclose(self) -> None:
        sim, self._sim, self._inner = self._sim, None, None
        if sim is not None:
            await sim.__aexit__(None, None, None)

    def __repr__(self) -> str:
        return f"SimBackedProvider(api={self.name!r}, profile={self.profile!r})"


__all__ = ["SIM_KEY", "SimBackedProvider"]
