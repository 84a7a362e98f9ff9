"""The layer contract and its composition: the core every layer imports, and nothing else.

A ``Layer`` is any object with ``async __call__(call, next)`` and a ``scope``
of ``"call"`` (runs once per call: telemetry, safety, fallback, retry) or
``"attempt"`` (runs on every attempt: circuit breaker, rate limit, timeout).
``compose`` puts the *attempt boundary* between the last call-scoped layer
and the rest: it numbers attempts and announces them to the observer, so no
layer has to.

This module knows requests, results and calls, and nothing of HTTP, files,
telemetry exporters or providers: an import contract in pyproject.toml keeps it so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from .model import Call, GenerationRequest, GenerationResult

Handler = Callable[[Call], Awaitable[GenerationResult]]
Scope = Literal["call", "attempt"]
KeyFunc = Callable[[GenerationRequest, str, str], str]


@runtime_checkable
class Layer(Protocol):
    """One concern wrapped around the next handler. Knows nothing of its neighbours."""

    scope: Scope

    async def __call__(self, call: Call, next: Handler) -> GenerationResult: ...


class _Bound:
    """``layer`` with its ``next`` fixed. Calling it returns the layer's coroutine directly,
    so a stack of N layers costs N coroutine frames and no wrapper frames."""

    __slots__ = ("layer", "next")

    def __init__(self, layer: Layer, next: Handler) -> None:
        self.layer = layer
        self.next = next

    def __call__(self, call: Call) -> Awaitable[GenerationResult]:
        return self.layer(call, self.next)


class AttemptBoundary:
    """Numbers each attempt and announces its start and end to the observer."""

    scope: Scope = "call"

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        call.attempt += 1
        observer = call.observer
        ledger = call.billing
        observer.attempt_started(call)
        mark = ledger.begin()
        try:
            result = await next(call)
        except BaseException as error:
            ledger.finish_attempt(call, None, error)
            ledger.end(mark)
            observer.attempt_finished(call, error)
            raise
        ledger.finish_attempt(call, result, None)
        ledger.end(mark)
        observer.attempt_finished(call, None)
        return result


def compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    """Fold ``layers`` (outermost first) around ``terminal``, inserting the attempt boundary."""
    boundary = 0
    for index, layer in enumerate(layers):
        if getattr(layer, "scope", "call") == "call":
            boundary = index + 1
    stack: list[Layer] = [*layers[:boundary], AttemptBoundary(), *layers[boundary:]]
    handler = terminal
    for layer in reversed(stack):
        handler = _Bound(layer, handler)
    return handler


def default_key(request: GenerationRequest, provider: str, model: str) -> str:
    """Partition key: ``provider/model`` (e.g. ``gemini/gemini-2.5-flash-image``)."""
    return f"{provider}/{model}"


__all__ = ["AttemptBoundary", "Handler", "KeyFunc", "Layer", "Scope", "compose", "default_key"]
