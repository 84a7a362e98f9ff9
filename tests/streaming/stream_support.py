"""Helpers for the streaming tests: clients on the simulator, on one virtual clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from genguard import Client
from genguard.clock import FakeClock
from genguard.observe import Observer
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.sim import Simulator
from genguard.streaming import ImageStream, StreamEvent

Api = Literal["gemini", "openai"]
APIS: tuple[Api, ...] = ("openai", "gemini")


def virtual_clock() -> FakeClock:
    """A fake clock that lets loopback I/O settle before it moves time on."""
    return FakeClock(settle=60)


def make_client(
    sim: Simulator,
    api: Api,
    layers: Sequence[Layer] = (),
    *,
    clock: FakeClock | None = None,
    observer: Observer | None = None,
    model: str | None = None,
) -> Client:
    if api == "gemini":
        provider: GeminiProvider | OpenAIProvider = GeminiProvider(
            "sim-key", base_url=sim.base_url, model=model or "gemini-2.5-flash-image"
        )
    else:
        provider = OpenAIProvider("sim-key", base_url=sim.base_url, model=model or "gpt-image-1")
    return Client(provider, layers, clock=clock, observer=observer)


async def drain(stream: ImageStream) -> tuple[list[StreamEvent], BaseException | None]:
    """Every event the stream yields, and the error it ended with (None on success)."""
    events: list[StreamEvent] = []
    try:
        async with stream:
            async for event in stream:
                events.append(event)
    except Exception as exc:
        return events, exc
    return events, None


def kinds(events: Sequence[StreamEvent]) -> list[str]:
    return [type(e).__name__ for e in events]
