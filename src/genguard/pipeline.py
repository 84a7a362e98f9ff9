"""The Client: runs requests through layers folded once, at build time, around a provider.

The layer contract (``Layer``, ``Handler``, ``Scope``) and ``compose`` live in
``genguard.core``, which knows no HTTP; they are re-exported here so older
imports keep working. This module adds what a running client needs: the HTTP
transport, the call's deadline guard, pricing and closing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from . import deadline as _deadline
from .billing import CallLedger
from .clock import Clock, SystemClock
from .core import AttemptBoundary, Handler, KeyFunc, Layer, Scope, compose, default_key
from .deadline import DeadlineGuard
from .errors import ClientClosed, GenGuardError
from .fastcopy import replace_slots
from .ids import new_generation_id
from .model import Call, GenerationRequest, GenerationResult, RequestFields, make_request
from .observe import NOOP_OBSERVER, Observer
from .providers.transport import HttpTransport
from .state.resource import close_all

if TYPE_CHECKING:
    from .catalogue.prices import PriceBook
    from .conversation import Conversation
    from .providers.base import Provider
    from .streaming import ImageStream, StreamOptions


def _with_deadline_guard(layers: Sequence[Layer]) -> list[Layer]:
    """``layers`` with the deadline guard inside the leading observe-only layers (telemetry):
    everything that can wait runs under the call's deadline, and telemetry sees the outcome."""
    index = 0
    while index < len(layers) and getattr(layers[index], "outside_deadline", False):
        index += 1
    return [*layers[:index], DeadlineGuard(), *layers[index:]]


class Client:
    """Runs requests through a pipeline of layers around one provider.

    Owns one ``HttpTransport`` (one aiohttp session), opened on first use or on
    ``async with``, and closed, with every layer that holds resources, by
    ``aclose``. ``deadline`` (seconds) bounds each whole call unless the request
    sets its own. ``prices`` prices every attempt (None: the shipped prices).
    """

    def __init__(
        self,
        provider: Provider,
        layers: Sequence[Layer] = (),
        *,
        deadline: float | None = None,
        observer: Observer | None = None,
        clock: Clock | None = None,
        transport: HttpTransport | None = None,
        key_func: KeyFunc = default_key,
        prices: PriceBook | None = None,
    ) -> None:
        self.provider = provider
        self.prices = prices
        self.layers = tuple(layers)
        self.deadline = deadline
        self.observer = observer or NOOP_OBSERVER
        self.clock: Clock = clock or SystemClock()
        self._owns_transport = transport is None
        self.transport = transport or HttpTransport()
        self.key_func = key_func
        send = provider.send
        transport_ = self.transport

        def terminal(call: Call) -> Awaitable[GenerationResult]:
            return send(call, transport_)

        guarded = _with_deadline_guard(self.layers)
        self._handler = compose(guarded, terminal)
        #: When the deadline guard comes first, ``generate`` does its work itself, so a
        #: call in flight holds one coroutine frame less (``handler`` keeps the guard).
        self._inner: Handler | None = (
            compose(self.layers, terminal) if isinstance(guarded[0], DeadlineGuard) else None
        )
        self._closed = False

    @property
    def handler(self) -> Handler:
        """The composed pipeline (for fallback stacks and tests)."""
        return self._handler

    def new_call(self, request: GenerationRequest) -> Call:
        """Build the per-call context for ``request``."""
        clock = self.clock
        now = clock.now()
        model = request.model or self.provider.model
        budget = request.deadline if request.deadline is not None else self.deadline
        return Call(
            request=request,
            generation_id=new_generation_id(),
            provider=self.provider.name,
            model=model,
            key=self.key_func(request, self.provider.name, model),
            observer=self.observer,
            clock=clock,
            started_at=now,
            deadline=None if budget is None else now + budget,
            billing=CallLedger(self.prices),
            transport=self.transport,
        )

    async def generate(
        self, request: GenerationRequest | str, **fields: Unpack[RequestFields]
    ) -> GenerationResult:
        """Generate images for ``request`` (or a prompt string plus request fields)."""
        if self._closed:
            raise ClientClosed("Client is closed")
        if isinstance(request, str) or fields:
            request = make_request(request, fields)
        # ``run``'s body, inline: one coroutine frame less per call in flight.
        call = self.new_call(request)
        self.observer.call_started(call)
        inner = self._inner
        try:
            if inner is None:
                result = await self._handler(call)
            else:  # the deadline guard's work (genguard.deadline), without its frame
                expiry = _deadline.arm(call)
                token = _deadline.enter(call)
                try:
                    result = await inner(call)
                except asyncio.CancelledError as exc:
                    if expiry is None or not expiry.expired():
                        raise
                    raise _deadline.passed(call) from exc
                finally:
                    if expiry is not None:
                        expiry.close()
                    _deadline.leave(token)
        except BaseException as error:
            self._failed(call, error)
            raise
        return self._finished(call, result)

    async def run(self, call: Call, handler: Handler) -> GenerationResult:
        """Run ``call`` through ``handler`` (a composed pipeline): announce it, fill the
        result's attempts, latency and cost, or put the cost on the error."""
        self.observer.call_started(call)
        try:
            result = await handler(call)
        except BaseException as error:
            self._failed(call, error)
            raise
        return self._finished(call, result)

    def _failed(self, call: Call, error: BaseException) -> None:
        if isinstance(error, GenGuardError) and call.billing.billed_or_uncertain:
            error.cost = call.billing.cost()
        self.observer.call_finished(call, None, error)

    def _finished(self, call: Call, result: GenerationResult) -> GenerationResult:
        result = replace_slots(
            result,
            attempts=max(call.attempt, 1),
            latency=self.clock.now() - call.started_at,
            cost=call.billing.cost(),
        )
        self.observer.call_finished(call, result, None)
        return result

    def stream(
        self,
        request: GenerationRequest | str,
        *,
        settings: StreamOptions | None = None,
        **fields: Any,
    ) -> ImageStream:
        """Generate with partial images as they arrive: an async iterator of stream events
        through the same layers as ``generate`` (see ``genguard.streaming``). ``settings``
        are the stream's timers and partial images; ``fields`` are request fields."""
        from .streaming import ImageStream, StreamOptions

        if self._closed:
            raise RuntimeError("Client is closed")
        if isinstance(request, str) or fields:
            request = make_request(request, fields)
        if settings is None:
            settings = StreamOptions()
        elif not isinstance(settings, StreamOptions):
            raise TypeError(f"settings must be a StreamOptions, got {type(settings).__name__}")
        return ImageStream(self, request, settings)

    def conversation(self, **options: Any) -> Conversation:
        """A multi-turn conversation that sends every turn through this client's pipeline."""
        from .conversation import Conversation

        return Conversation(self, **options)

    async def __aenter__(self) -> Client:
        await self.transport.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every layer that holds resources, then the transport if this client made it."""
        if self._closed:
            return
        self._closed = True
        try:
            await close_all(self.layers)
        finally:
            if self._owns_transport:
                await self.transport.aclose()

    def __repr__(self) -> str:
        names = ", ".join(type(layer).__name__ for layer in self.layers)
        return f"Client(provider={self.provider!r}, layers=[{names}])"


__all__ = [
    "AttemptBoundary",
    "Client",
    "Handler",
    "KeyFunc",
    "Layer",
    "Scope",
    "compose",
    "default_key",
]
