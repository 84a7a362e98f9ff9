"""The provider contract: build the request, send it, map the response. Nothing else."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..model import Call, GenerationResult
from .transport import HttpTransport


@runtime_checkable
class Provider(Protocol):
    """A thin adapter for one API. ``send`` maps every response to a result or a typed error.

    ``name`` is the provider id used in partition keys and telemetry (``gemini``,
    ``openai``); ``model`` is the default model when a request names none.
    """

    name: str
    model: str

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult: ...
