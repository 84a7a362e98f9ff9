"""In-process providers with no network: for overhead benchmarks and for testing a stack.

``StaticProvider`` always returns the same image. ``ScriptedProvider`` plays a
list of outcomes (results or errors to raise) in order, then repeats the last.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import Call, GenerationResult, Image
from .transport import HttpTransport

# A valid 1x1 transparent PNG.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


class StaticProvider:
    """Answers every call at once with one fixed image."""

    def __init__(self, name: str = "static", model: str = "static-1", image: bytes = TINY_PNG):
        self.name = name
        self.model = model
        self._images = (Image(image, "image/png"),)
        self.calls = 0

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        self.calls += 1
        return GenerationResult(
            images=self._images,
            generation_id=call.generation_id,
            provider=self.name,
            model=call.model,
            seed=call.request.seed,
            finish_reason="STOP",
        )

    def __repr__(self) -> str:
        return f"StaticProvider(name={self.name!r}, model={self.model!r})"


class ScriptedProvider(StaticProvider):
    """Plays ``outcomes`` in order: an exception instance is raised, ``None`` means success."""

    def __init__(
        self,
        outcomes: Sequence[BaseException | None],
        name: str = "scripted",
        model: str = "scripted-1",
    ) -> None:
        super().__init__(name=name, model=model)
        if not outcomes:
            raise ValueError("outcomes must not be empty")
        self.outcomes = list(outcomes)

    async def send(self, call: Call, transport: HttpTransport) -> GenerationResult:
        index = min(self.calls, len(self.outcomes) - 1)
        outcome = self.outcomes[index]
        if outcome is not None:
            self.calls += 1
            raise outcome
        return await super().send(call, transport)


__all__ = ["TINY_PNG", "ScriptedProvider", "StaticProvider"]
